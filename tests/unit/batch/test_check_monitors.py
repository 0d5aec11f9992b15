"""`streamdrift check` with the model-quality, bias and attribution monitors, end to end on generated data.

Five hourly windows of the synthetic credit model: normal, LABEL_FLIP (accuracy drops), BIAS (DPPL changes),
normal with its attributions reordered (attribution drift), normal. Expected metric values are recomputed with
numpy from the generated batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

from streamdrift.baseline.baseline import Baseline, MonitorOptions, build_baseline
from streamdrift.batch.check import CheckOptions, CheckReport, run_check, window_dir_name
from streamdrift.cli import main
from streamdrift.columns.chunks import RoleColumns
from streamdrift.dev.synthetic import NUMERIC, Batch, Scenario, generate
from streamdrift.errors import ConfigError
from streamdrift.events.events import DriftEvent
from streamdrift.ingest.files import iter_chunks
from streamdrift.monitors.attribution import ndcg
from streamdrift.monitors.bias import FacetSpec
from streamdrift.monitors.registry import AnyMonitor
from streamdrift.monitors.violations import CheckKey, Violation

T0 = datetime(2026, 3, 1, tzinfo=UTC)
N = 1500
SCENARIOS = (Scenario.NORMAL, Scenario.LABEL_FLIP, Scenario.BIAS, Scenario.NORMAL, Scenario.NORMAL)
FLIP, BIAS, SWAP = 1, 2, 3
CLEAN = (0, 4)
GENDER = FacetSpec("gender", values=("female",))
UNLABELLED = 40  # records of hour 0 whose label never arrives
EXTRA_LABELS = 7  # labels for ids that are not in the input


def _swap_attributions(batch: Batch) -> None:
    """Reverse the importance order: the most important features trade places with the least important."""
    a = batch.attributions
    a["debt_ratio"], a["num_accounts"] = a["num_accounts"], a["debt_ratio"]
    a["income"], a["age"] = a["age"], a["income"]


def _stamps(hour: int, n: int) -> list[datetime]:
    """Sorted event times inside the hour, with microseconds (Python isoformat() output)."""
    offsets = np.sort(np.random.default_rng(100 + hour).integers(0, 3_600_000_000, n))
    return [T0 + timedelta(hours=hour, microseconds=int(o)) for o in offsets]


def _capture(batch: Batch, hour: int, *, with_label: bool) -> list[bytes]:
    lines = []
    for i, (row, stamp) in enumerate(zip(batch.rows(), _stamps(hour, batch.n), strict=True)):
        record: dict[str, object] = {"model_id": "credit", "inference_id": f"h{hour}-{i}",
                                     "timestamp": stamp.isoformat(),
                  "features": row, "prediction": {"label": int(batch.prediction[i]), "score": float(batch.score[i])},
                  "attributions": {k: float(v[i]) for k, v in batch.attributions.items()}}
        if with_label:
            record["label"] = int(batch.label[i])
        lines.append(orjson.dumps(record) + b"\n")
    return lines


def _csv(path: Path, batches: list[Batch], *, label: bool) -> Path:
    stamps = [t.isoformat() for h, b in enumerate(batches) for t in _stamps(h, b.n)]
    columns: dict[str, object] = {
        "ts": stamps, "row_id": [f"h{h}-{i}" for h, b in enumerate(batches) for i in range(b.n)],
        **{k: np.concatenate([b.features[k] for b in batches]) for k in batches[0].features},
        "prediction": np.concatenate([b.prediction for b in batches]),
        "score": np.concatenate([b.score for b in batches]),
    }
    if label:
        columns["label"] = np.concatenate([b.label for b in batches])
    pacsv.write_csv(pa.table(columns), path)
    return path


@dataclass(frozen=True)
class Data:
    root: Path
    batches: list[Batch]
    capture_baseline: Baseline
    csv_baseline: Baseline
    capture: Path
    labels: Path
    csv_labelled: Path
    csv_unlabelled: Path
    labels_csv: Path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    root = tmp_path_factory.mktemp("check_monitors")
    train = generate(6000, np.random.default_rng(1))
    (root / "train.jsonl").write_bytes(b"".join(_capture(train, 0, with_label=True)))
    monitors = MonitorOptions(facets=(GENDER,))
    capture_baseline = build_baseline(iter_chunks(root / "train.jsonl", roles=RoleColumns(target="label")), "credit",
                                      target="label", monitors=monitors)
    _csv(root / "train.csv", [train], label=True)
    csv_baseline = build_baseline(
        iter_chunks(root / "train.csv", roles=RoleColumns("label", "prediction", "score"), exclude=("ts", "row_id")),
        "credit", target="label", prediction="prediction", score="score", exclude=("ts", "row_id"),
        monitors=monitors)
    rng = np.random.default_rng(5)
    batches = [generate(N, rng, s) for s in SCENARIOS]
    _swap_attributions(batches[SWAP])
    capture = root / "in.jsonl"
    capture.write_bytes(b"".join(line for h, b in enumerate(batches) for line in _capture(b, h, with_label=False)))
    labels = [{"model_id": "credit", "inference_id": f"h{h}-{i}", "timestamp": "2026-03-02T00:00:00Z",
               "label": int(b.label[i])} for h, b in enumerate(batches) for i in range(b.n)
              if not (h == 0 and i < UNLABELLED)]
    labels += [{"model_id": "credit", "inference_id": f"nope-{i}", "timestamp": 0, "label": 1}
               for i in range(EXTRA_LABELS)]
    labels.append(labels[100])  # a duplicate
    order = np.random.default_rng(9).permutation(len(labels))  # labels arrive in any order
    (root / "labels.jsonl").write_bytes(b"".join(orjson.dumps(labels[i]) + b"\n" for i in order))
    pacsv.write_csv(pa.table({"row_id": [labels[i]["inference_id"] for i in order],
                              "label": [labels[i]["label"] for i in order]}), root / "labels.csv")
    return Data(root, batches, capture_baseline, csv_baseline, capture, root / "labels.jsonl",
                _csv(root / "in_labelled.csv", batches, label=True), _csv(root / "in.csv", batches, label=False),
                root / "labels.csv")


def _by_monitor(report: CheckReport, monitor: str) -> list[set[str]]:
    return [{v.subject for v in w.evaluation.violations if v.monitor == monitor} for w in report.windows]


def _events(report: CheckReport) -> list[DriftEvent]:
    return [DriftEvent.from_json(line) for line in report.events_path.read_bytes().splitlines()]


def _accuracy(batch: Batch, skip: int = 0) -> float:
    return float((batch.prediction[skip:] == batch.label[skip:]).mean())


def test_capture_with_label_file(data: Data) -> None:
    out = data.root / "out_capture"
    report = run_check(data.capture, data.capture_baseline, out,
                       CheckOptions(window_ms=3_600_000, labels=data.labels, chunk_rows=2_000))
    assert report.n_bad == 0 and report.n_rows == 5 * N  # isoformat() microsecond timestamps are read
    assert report.monitors == ["model_quality", "bias", "attribution"]
    quality, bias, attribution = (_by_monitor(report, m) for m in ("model_quality", "bias", "attribution"))
    assert "accuracy" in quality[FLIP] and all(not quality[h] for h in (*CLEAN, SWAP))
    assert {"gender:DPPL", "gender:DI"} <= bias[BIAS] and all(not bias[h] for h in (*CLEAN, FLIP, SWAP))
    assert attribution[SWAP] == {"ndcg"} and all(not attribution[h] for h in (*CLEAN, FLIP, BIAS))
    assert all(not _by_monitor(report, "data_quality")[h] for h in range(5))

    accuracy = next(v for v in report.windows[FLIP].evaluation.violations if v.subject == "accuracy")
    assert (accuracy.check, accuracy.statistic, accuracy.n_window) == ("model_quality_check", "accuracy", N)
    assert accuracy.value == pytest.approx(_accuracy(data.batches[FLIP]), abs=1e-12)
    assert accuracy.threshold is not None and accuracy.value is not None and accuracy.value < accuracy.threshold
    assert accuracy.p_value is not None and accuracy.p_value < 1e-6

    raised: dict[tuple[str, str | None, str], DriftEvent] = {
        (e.monitor, e.metric or e.feature, e.status): e for e in _events(report)}
    starts = [w.start for w in report.windows]
    for monitor, metric, hour in (("model_quality", "accuracy", FLIP), ("bias", "gender:DPPL", BIAS),
                                  ("attribution", "ndcg", SWAP)):
        assert raised[(monitor, metric, "raised")].window_start.startswith(starts[hour].strftime("%Y-%m-%dT%H"))
        assert raised[(monitor, metric, "cleared")].window_start.startswith(
            starts[hour + 1].strftime("%Y-%m-%dT%H"))

    counts = report.labels
    assert counts is not None
    assert (counts.matched, counts.records_without_label, counts.unmatched_labels, counts.duplicate_labels) == (
        5 * N - UNLABELLED, UNLABELLED, EXTRA_LABELS, 1)

    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["labels"]["records_without_label"] == UNLABELLED
    windows = summary["windows"]
    assert windows[0]["monitors"]["model_quality"]["n"] == N - UNLABELLED
    assert windows[0]["monitors"]["model_quality"]["metrics"]["accuracy"] == pytest.approx(
        _accuracy(data.batches[0], UNLABELLED), abs=1e-12)
    b = data.batches[BIAS]
    female = b.features["gender"] == "female"
    dppl = next(r for r in windows[BIAS]["monitors"]["bias"]["results"] if r["metric"] == "gender:DPPL")
    assert dppl["value"] == pytest.approx(b.prediction[~female].mean() - b.prediction[female].mean(), abs=1e-12)
    swap = data.batches[SWAP]
    base = data.capture_baseline.attribution
    assert base is not None
    expected = ndcg([base["global_values"][k] for k in NUMERIC], [np.abs(swap.attributions[k]).mean() for k in NUMERIC])
    assert windows[SWAP]["monitors"]["attribution"]["ndcg"] == pytest.approx(expected, rel=1e-9)
    assert expected < 0.9

    def sagemaker(hour: int, name: str) -> list[dict[str, str]]:
        path = out / window_dir_name(starts[hour], hour, False) / name
        result: list[dict[str, str]] = orjson.loads(path.read_bytes())["violations"]
        return result

    assert "accuracy" in {v["metric_name"] for v in sagemaker(FLIP, "model_quality/constraint_violations.json")}
    assert sagemaker(0, "model_quality/constraint_violations.json") == []
    assert {(v["facet"], v["facet_value"], v["metric_name"], v["constraint_check_type"])
            for v in sagemaker(BIAS, "bias/constraint_violations.json")} >= {
        ("gender", "female", "DPPL", "bias_drift_check")}
    assert [v["metric_name"] for v in sagemaker(SWAP, "attribution/constraint_violations.json")] == ["ndcg"]
    assert sagemaker(FLIP, "constraint_violations.json") == []  # the data-quality file keeps data quality only


@pytest.mark.parametrize("source", ["embedded", "labels_csv"])
def test_csv_record_windows(data: Data, source: str) -> None:
    """CSV input: labels in the input's own target column, or a label CSV joined on --id-column."""
    embedded = source == "embedded"
    options = CheckOptions(window_records=N, timestamp_column="ts", chunk_rows=1_000, id_column="row_id",
                           labels=None if embedded else data.labels_csv)
    report = run_check(data.csv_labelled if embedded else data.csv_unlabelled, data.csv_baseline,
                       data.root / f"out_{source}", options)
    assert report.monitors == ["model_quality", "bias"]  # no attribution section in the CSV baseline
    quality, bias = _by_monitor(report, "model_quality"), _by_monitor(report, "bias")
    assert "accuracy" in quality[FLIP] and all(not quality[h] for h in (*CLEAN, SWAP))
    assert "gender:DPPL" in bias[BIAS] and all(not bias[h] for h in (*CLEAN, FLIP, SWAP))
    counts = report.labels
    assert counts is not None
    if embedded:
        assert (counts.embedded, counts.matched, counts.records_without_label) == (5 * N, 0, 0)
        assert report.windows[0].monitors["model_quality"].summary["n"] == N
    else:
        assert (counts.matched, counts.records_without_label, counts.unmatched_labels) == (
            5 * N - UNLABELLED, UNLABELLED, EXTRA_LABELS)


def test_labels_need_a_model_quality_section_and_ids(data: Data, tmp_path: Path) -> None:
    bare = build_baseline(iter_chunks(data.csv_unlabelled, exclude=("ts", "row_id", "prediction", "score")), "m")
    with pytest.raises(ConfigError, match="model_quality"):
        run_check(data.csv_unlabelled, bare, tmp_path / "a",
                  CheckOptions(window_records=N, labels=data.labels_csv, id_column="row_id"))
    with pytest.raises(ConfigError, match="--id-column"):
        run_check(data.csv_unlabelled, data.csv_baseline, tmp_path / "b",
                  CheckOptions(window_records=N, labels=data.labels_csv))


def test_file_labels_win_and_rows_fall_back_to_their_own(tmp_path: Path) -> None:
    """A --labels label joins before the row's own target (which then counts as a duplicate label); rows the
    file does not label use their own; rows with neither stay unlabelled."""
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(b"".join(orjson.dumps({"inference_id": f"i{i}", "label": lab}) + b"\n"
                                for i, lab in ((0, "yes"), (2, "no"), (3, "no"))))
    rows = tmp_path / "rows.jsonl"
    records = [{"inference_id": "i0", "x": 1.0, "y": "no", "p": "yes"},
               {"inference_id": "i1", "x": 2.0, "y": "maybe", "p": "maybe"},
               {"inference_id": "i2", "x": 3.0, "p": "yes"}, {"inference_id": "i9", "x": 4.0, "p": "no"}]
    rows.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    train = tmp_path / "train.jsonl"
    train.write_bytes(b"".join(orjson.dumps({"x": float(i), "y": ("yes", "no", "maybe")[i % 3],
                                             "p": ("yes", "no", "maybe")[(i + i // 7) % 3]}) + b"\n"
                               for i in range(300)))
    baseline = build_baseline(iter_chunks(train, roles=RoleColumns(target="y", prediction="p")), "m",
                              target="y", prediction="p")
    report = run_check(rows, baseline, tmp_path / "out",
                       CheckOptions(window_records=10, labels=labels, id_column="inference_id"))
    [window] = report.windows
    quality = window.monitors["model_quality"]
    assert quality.summary["n"] == 3  # i0 (file: yes = its prediction), i1 (own: maybe = p), i2 (file: no != yes)
    assert quality.summary["metrics"]["accuracy"] == pytest.approx(2 / 3)
    counts = report.labels
    assert counts is not None
    assert (counts.matched, counts.embedded, counts.records_without_label, counts.unmatched_labels) == (1, 2, 1, 1)


def _custom_monitor() -> AnyMonitor:
    from streamdrift.monitors.base import DataMonitor, MonitorResult, Rows
    from streamdrift.profile.sketches import BlobKind  # noqa: F401 - the envelope of real states

    class RowCount:
        def __init__(self, n: int = 0) -> None:
            self.n = n

        def merge(self, other: RowCount) -> RowCount:
            self.n += other.n
            return self

    class EveryOtherWindow(DataMonitor[RowCount]):
        """Counts rows; violates when the count is odd (a test monitor added through the registry)."""

        name = "custom"

        def new_state(self, rows: Rows | None = None) -> RowCount:
            return RowCount()

        def update(self, state: RowCount, rows: Rows) -> None:
            state.n += rows.n_rows

        def read_state(self, blob: bytes) -> RowCount:
            return RowCount(int(blob))

        def write_state(self, state: RowCount) -> bytes:
            return str(state.n).encode()

        def judge(self, state: RowCount) -> MonitorResult:
            key: CheckKey = ("model_quality", "custom_check", "m")
            violation = Violation(check="custom_check", description="odd", n_window=state.n, metric="m",
                                  monitor="model_quality")
            return MonitorResult("custom", [violation] if state.n % 2 else [], frozenset({key}), {"n": state.n},
                                 "odd" if state.n % 2 else "even")

    return EveryOtherWindow()


def test_a_monitor_kind_added_to_the_registry_runs_in_check(data: Data, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a monitor kind is one registry entry: check builds it, feeds it every window's rows, judges it, and
    its checks go through the hysteresis (a clean window clears its event)."""
    from streamdrift.monitors import registry

    custom = _custom_monitor()
    kinds = {**registry.MONITOR_KINDS, "custom": registry.MonitorKind(lambda b, c: custom)}
    monkeypatch.setattr(registry, "MONITOR_KINDS", kinds)
    report = run_check(data.csv_unlabelled, data.csv_baseline, tmp_path / "out",
                       CheckOptions(window_records=N + 1, timestamp_column="ts", section_monitors=False))
    sizes = [N + 1] * 4 + [5 * N - 4 * (N + 1)]
    assert [w.monitors["custom"].summary["n"] for w in report.windows] == sizes
    expected, raised = [], False
    for odd in (n % 2 == 1 for n in sizes):  # raise_after = clear_after = 1
        if odd != raised:
            expected.append("raised" if odd else "cleared")
            raised = odd
    assert expected and [e.status for e in _events(report) if e.check == "custom_check"] == expected


def test_cli_check_with_labels(data: Data, tmp_path: Path) -> None:
    baseline = data.capture_baseline.save(tmp_path / "baseline.json")
    args = ["check", "--baseline", str(baseline), "--input", str(data.capture), "--labels", str(data.labels),
            "--window", "1h", "--output", str(tmp_path / "out")]
    runner = CliRunner()
    ok = runner.invoke(main, args)
    assert ok.exit_code == 0, ok.output
    for text in ("model quality", "bias", "attribution", "DRIFT gender:DPPL",
                 f"{UNLABELLED} records without a label", f"{EXTRA_LABELS} labels matching no record"):
        assert text in ok.output, text
    rows = {line.split()[1][:19]: line for line in ok.output.splitlines() if "2026-03-01T0" in line}
    assert "DRIFT" in rows["2026-03-01T01:00:00"] and "DRIFT" not in rows["2026-03-01T00:00:00"]
    assert "DRIFT ndcg" in rows["2026-03-01T03:00:00"]
    assert runner.invoke(main, [*args, "--fail-on-violation", "--quiet"]).exit_code == 1
