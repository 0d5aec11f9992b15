"""The profiles topic on the real broker (docs/history.md).

* across a kill -9 of the control plane: every window it released is on the topic once, with every record (a
  committed transaction holds whole events, streamdrift.worker.faustcommit), and every reader counts it once;
* a worker's stored windows read back: ``reevaluate`` with the live baseline and rules gives the live events
  (same ids, values, thresholds), and ``--publish`` produces exactly the events it wrote, once each;
  ``baseline build --from-history`` equals (to the sketches' rank-error bound) a baseline built from the same
  records as a file, and ``history --every`` rolls the windows up;
* drift over time: the worker's ``/report/<model>`` and ``report --from-history`` chart every window with the
  live alerts marked, rendered in headless Chromium (screenshots kept when STREAMDRIFT_SCREENS is a directory).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from browser import drawn_share, dump_dom, screenshot
from click.testing import CliRunner
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from datasketches import kll_doubles_sketch
from harness import (
    capture_records,
    create_all_topics,
    drift_events,
    http_get,
    kill_worker,
    produce,
    read_topic,
    start_worker,
    stop_worker,
    unique_settings,
    wait_until,
    worker_process,
)

from streamdrift.baseline.baseline import Baseline, build_baseline
from streamdrift.cli import main
from streamdrift.columns.columns import columns_from_rows
from streamdrift.dev.localkafka import find_free_port
from streamdrift.dev.synthetic import Scenario, generate
from streamdrift.events.events import rfc3339
from streamdrift.events.judge import ms_to_datetime
from streamdrift.ingest.records import encode_capture_record
from streamdrift.monitors.reference import PREVIOUS_CHECK, ROLLING_CHECK
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.report.timeseries import DRIFT_CHECKS
from streamdrift.settings import EvaluationSettings, LabelSettings, Settings, WindowSettings
from streamdrift.settings.history import HistorySettings
from streamdrift.window.partials import PartialDelta, WindowClosed, encode_partial
from streamdrift.window.stored import decode_stored, profiles_partition, window_of_key
from streamdrift.worker.baselines import publish_baseline
from streamdrift.worker.history import read_windows

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000


# ------------------------------------------------------------------ exactly once across a kill -9

def _deltas(settings: Settings, producer: Producer, start: int, per_partition: tuple[int, ...],
            rng: np.random.Generator) -> None:
    """What the data planes send for one window: each capture partition's delta and close marker."""
    end = start + MINUTE_MS
    for partition, n in enumerate(per_partition):
        rows = [orjson.loads(r)["features"] for r in capture_records("m1", [start] * n, rng, n_numeric=5)]
        profile = DatasetProfile.empty(ProfileParams(kll_k=settings.profile.kll_k))
        profile.update(columns_from_rows(rows))
        delta = PartialDelta("m1", None, start, end, settings.topics.capture, partition, start // 1000 + partition,
                             n, profile)
        producer.produce(settings.topics.partials, key=b"m1", value=encode_partial(delta))
        closed = encode_partial(WindowClosed(settings.topics.capture, partition, start, end, end + 1, ("m1",)))
        for p in range(settings.topics.partitions):
            producer.produce(settings.topics.partials, value=closed, partition=p)


def _stored(settings: Settings, *, committed: bool = True) -> list[tuple[bytes, bytes]]:
    msgs = read_topic(settings, settings.history.topic, until=time.monotonic() + 30, to_end=True) if committed else []
    return [(m.key() or b"", m.value() or b"") for m in msgs]


def _high_watermark(settings: Settings) -> int:
    """The end offset of m1's profiles partition (counts transaction markers too: > 0 once a window is in)."""
    consumer = Consumer(settings.client_config({"group.id": f"probe-{settings.group_id}"}))
    try:
        tp = TopicPartition(settings.history.topic, profiles_partition("m1", settings.topics.partitions))
        return int(consumer.get_watermark_offsets(tp, timeout=10)[1])
    except KafkaException:  # the new topic's leader not known yet
        return 0
    finally:
        consumer.close()


def test_a_killed_control_plane_loses_no_window_and_no_reader_counts_one_twice(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, capture_partitions=3,
                               window=WindowSettings(size=MINUTE_MS / 1000, lateness=1.0, idle_timeout=600.0),
                               merge_timeout=600.0, web_port=0)
    create_all_topics(settings)
    rng = np.random.default_rng(31)
    first = (int(time.time() * 1000) // MINUTE_MS - 200) * MINUTE_MS
    counts = {first + i * MINUTE_MS: (20 + i, 30, 10 + 2 * i) for i in range(60)}
    starts = list(counts)
    producer = Producer(settings.client_config({"linger.ms": 0}))
    log = tmp_path / "control.log"
    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        _deltas(settings, producer, starts[0], counts[starts[0]], rng)
        producer.flush(30)
        wait_until(lambda: _high_watermark(settings), lambda n: n > 0, timeout=90, interval=0.2)
        for start in starts[1:30]:  # windows released, judged and written one after another ...
            _deltas(settings, producer, start, counts[start], rng)
            producer.flush(30)
            time.sleep(0.03)
    finally:
        kill_worker(proc)  # ... when the control plane dies
    before = len(_stored(settings))
    for start in starts[30:]:
        _deltas(settings, producer, start, counts[start], rng)
    assert producer.flush(30) == 0
    assert before < len(counts)
    proc = start_worker(settings, role="controlplane", log_path=log)
    try:
        wait_until(lambda: _stored(settings), lambda s: len(s) >= len(counts), timeout=120, interval=1.0)
    finally:
        stop_worker(proc)
    stored = _stored(settings)  # all the stopped control plane wrote, a replay's second copies included

    # every window is on the topic once (none lost, none twice). A window's profile, its table release and the
    # offset of the message that released it commit together (streamdrift.worker.faustcommit): a replay never
    # releases a window whose write committed. Before that guard a commit could carry a window's profile but
    # not its table writes, and the replay wrote it again: second copies in 4 of 17 runs, one of them merged
    # afresh and short of a delta (and before the buffer was drained at each commit, second and smaller copies)
    by_key: dict[bytes, bytes] = {}
    for key, value in stored:
        assert by_key.setdefault(key, value) == value, f"{key!r} written twice with other contents"
    twice = sorted(window_of_key(k)[1] for k in by_key if sum(1 for key, _ in stored if key == k) > 1)
    assert not twice, f"windows written twice (same bytes) by the replay: {twice}"
    assert sorted(window_of_key(k)[1] for k in by_key) == sorted(counts), "a window lost"
    for key, value in by_key.items():
        window = decode_stored(value).window
        assert window.n_records == sum(counts[window.window_start_ms]) and not window.partial, key
        assert window.partitions_closed == frozenset({0, 1, 2})
    # and what reads the topic counts each window once, with its records
    read = list(read_windows(settings, "m1", first, first + len(counts) * MINUTE_MS))
    assert len(read) == len(stored)
    result = CliRunner().invoke(main, ["history", "--bootstrap", kafka_bootstrap, "--model", "m1", "--every", "1d"],
                                env={"STREAMDRIFT_HISTORY__TOPIC": settings.history.topic})
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sum(line["windows"] for line in lines) == len(counts)
    assert sum(line["n_records"] for line in lines) == sum(sum(c) for c in counts.values())


# ------------------------------------------------------------------ a worker's windows read back

MODEL = "histmodel"
SIZE_MS = 4_000  # the last two windows are stamped ahead of the clock: the test waits for them to pass
PER_WINDOW = 700
SCENARIOS = (Scenario.NORMAL, Scenario.SHIFTED_INCOME, Scenario.NEW_REGION, Scenario.NORMAL, Scenario.NORMAL)


def _records(starts: list[int]) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Capture records of the SCENARIOS' windows starting at ``starts``, and their feature rows."""
    rng = np.random.default_rng(41)
    capture: list[bytes] = []
    rows: list[dict[str, Any]] = []
    for w, (scenario, start) in enumerate(zip(SCENARIOS, starts, strict=True)):
        batch = generate(PER_WINDOW, rng, scenario).rows()
        stamps = np.sort(rng.integers(start, start + SIZE_MS - 200, PER_WINDOW))
        for i, row in enumerate(batch):
            capture.append(encode_capture_record(MODEL, features=row, inference_id=f"r{w}-{i}",
                                                 timestamp_ms=int(stamps[i]), prediction=None))
        rows += batch
    return capture, rows


def _event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["monitor"], event["check"], event.get("feature") or event.get("metric"), event["window_start"],
            event["status"], event["event_id"])


def test_stored_windows_give_the_live_events_and_a_baseline_of_their_records(kafka_bootstrap: str,
                                                                               tmp_path: Path) -> None:
    """The worker judges each window against its baseline, the merge of its last 2 windows and its previous
    window, and is restarted after the third: the references are filled again from the profiles topic (the
    fourth window is judged against the two before it), and ``reevaluate`` gives the same events."""
    settings = unique_settings(
        kafka_bootstrap, capture_partitions=2,
        window=WindowSettings(size=SIZE_MS / 1000, lateness=1.0, idle_timeout=3.0),
        labels=LabelSettings(enabled=False), evaluation=EvaluationSettings(raise_after=1, clear_after=1),
        # merge_timeout: the references' read-back at the restart looks back (rolling_windows + 1) windows plus it
        commit_interval=0.5, merge_timeout=120.0, web_host="127.0.0.1", web_port=find_free_port(span=2),
        history=HistorySettings(rolling_windows=2, previous_window=True),
    )
    create_all_topics(settings)
    reference = build_baseline([columns_from_rows(generate(5000, np.random.default_rng(3)).rows())], MODEL)
    publish_baseline(settings, reference.to_json())
    first = (int(time.time() * 1000) // SIZE_MS - 4) * SIZE_MS  # three windows in the past, closed at once
    before = 3 * PER_WINDOW  # the first three windows' records (in the past), then a restart
    produce(settings, settings.topics.capture, _records([first + w * SIZE_MS for w in range(5)])[0][:before],
            key=MODEL.encode())
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        wait_until(lambda: list(read_windows(settings, MODEL, first)), lambda w: len(w) >= 3, timeout=180,
                   interval=1.0)
        time.sleep(2)
    # the idle partitions moved the watermark to the clock: the last two windows are stamped ahead of it
    later = (int(time.time() * 1000) // SIZE_MS + 1) * SIZE_MS
    starts = [first, first + SIZE_MS, first + 2 * SIZE_MS, later, later + SIZE_MS]
    capture, rows = _records(starts)
    produce(settings, settings.topics.capture, capture[before:], key=MODEL.encode())
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        wait_until(lambda: list(read_windows(settings, MODEL, first)), lambda w: len(w) >= len(SCENARIOS),
                   timeout=180, interval=1.0)
        # the last window's events are in its transaction: once one is on the topic, all are
        fifth_ms = rfc3339(ms_to_datetime(later + SIZE_MS))
        live_messages = wait_until(
            lambda: read_topic(settings, settings.topics.alerts, until=time.monotonic() + 30, to_end=True),
            lambda msgs: any(e["window_start"] == fifth_ms for e in drift_events(msgs)), timeout=60)
        live = drift_events(live_messages)
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/report/{MODEL}", timeout=30) as page:
            (tmp_path / "worker-report.html").write_bytes(page.read())
        status = orjson.loads(http_get(f"http://127.0.0.1:{settings.web_port}/status/{MODEL}")[1])
    # the first window after the restart was judged against the windows before it, read back from the topic
    fourth = rfc3339(ms_to_datetime(later))
    entry = next(w for w in status["windows"] if w["window_start"] == fourth)
    assert entry["rolling_reference"]["reference_windows"] == 2, entry
    assert entry["previous_window"]["reference_first_window_start_ms"] == first + 2 * SIZE_MS, entry
    # the new region raised against the previous window at the third window and cleared at the fifth (the fourth
    # differs from the third: still raised), the baseline's alert cleared at the fourth
    compact = [(e["window_start"], e["check"], e.get("feature"), e["status"]) for e in live]
    third, fifth = rfc3339(ms_to_datetime(first + 2 * SIZE_MS)), rfc3339(ms_to_datetime(later + SIZE_MS))
    assert (third, PREVIOUS_CHECK, "region", "raised") in compact, compact
    assert (fifth, PREVIOUS_CHECK, "region", "cleared") in compact, compact
    assert (fourth, "baseline_drift_check", "region", "cleared") in compact, compact
    assert {e["check"] for e in live} >= {"baseline_drift_check", ROLLING_CHECK, PREVIOUS_CHECK}
    assert {e["status"] for e in live} == {"raised", "cleared"}, live

    config = tmp_path / "worker.yaml"
    data = settings.model_dump(mode="json")
    data.pop("sasl_password")
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "reference.json").write_bytes(reference.to_json())
    span = ["--from", str(first), "--to", str(later + 2 * SIZE_MS)]
    runner = CliRunner()
    result = runner.invoke(main, ["reevaluate", "--config", str(config), "--model", MODEL, "--baseline",
                                  str(tmp_path / "reference.json"), "--output", str(tmp_path / "re"), *span])
    assert result.exit_code == 0, result.output
    again = [orjson.loads(line) for line in (tmp_path / "re" / "events.jsonl").read_bytes().splitlines()]
    # a merge of KLL sketches is randomized: the rolling reference's statistics (and calibrated thresholds) read
    # again are equal within the sketches' rank error, so a window near its threshold may turn either way; the
    # other checks are equal to the bit
    exact_live, exact_again = ([e for e in events if e["check"] != ROLLING_CHECK] for events in (live, again))
    live_by_key, again_by_key = {_event_key(e): e for e in exact_live}, {_event_key(e): e for e in exact_again}
    assert sorted(again_by_key) == sorted(live_by_key) and len(exact_again) == len(exact_live)
    for key, event in live_by_key.items():
        for field in ("value", "threshold", "p_value", "n_window", "baseline_id", "partial"):
            assert again_by_key[key][field] == event[field], (key, field)
    rolling = [{_event_key(e): e for e in events if e["check"] == ROLLING_CHECK} for events in (live, again)]
    second = rfc3339(ms_to_datetime(first + SIZE_MS))  # against the first window alone: no merge, exact
    assert all(any(k[2:5] == ("income", second, "raised") for k in keys) for keys in rolling), rolling
    for key in rolling[0].keys() & rolling[1].keys():
        for field in ("value", "threshold"):
            assert rolling[1][key][field] == pytest.approx(rolling[0][key][field], abs=0.01), (key, field)

    # --publish: the events written to events.jsonl, produced to alerts once each (after the live ones: one key)
    result = runner.invoke(main, ["reevaluate", "--config", str(config), "--model", MODEL, "--baseline",
                                  str(tmp_path / "reference.json"), "--output", str(tmp_path / "pub"), *span,
                                  "--publish"])
    assert result.exit_code == 0, result.output
    written = (tmp_path / "pub" / "events.jsonl").read_bytes().splitlines()
    assert f"published {len(written)} events" in result.output
    after = read_topic(settings, settings.topics.alerts, until=time.monotonic() + 30, to_end=True)  # all of it
    # on the live events' partition (the control plane's partitioner), after them
    assert {m.partition() for m in after} == {live_messages[0].partition()}
    published = [m.value() for m in after[len(live_messages):]]
    assert published == written  # the same bytes, in order, each once
    assert {orjson.loads(v)["event_id"] for v in written} >= {e["event_id"] for e in exact_live}

    # a baseline of the stored windows against one of the same records as a file
    (tmp_path / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    result = runner.invoke(main, ["baseline", "build", "--input", str(tmp_path / "rows.jsonl"), "--model-id", MODEL,
                                  "--output", str(tmp_path / "file.json")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["baseline", "build", "--from-history", "--config", str(config), "--model", MODEL,
                                  *span, "--output", str(tmp_path / "history.json")])
    assert result.exit_code == 0, result.output
    from_file, from_history = Baseline.load(tmp_path / "file.json"), Baseline.load(tmp_path / "history.json")
    assert from_history.extra["source"]["windows"] == len(SCENARIOS)
    assert from_history.profile.n_records == from_file.profile.n_records == len(rows)
    # both are KLL sketches: a quantile's true rank is within the sum of their rank-error bounds
    eps = sum(kll_doubles_sketch.get_normalized_rank_error(k, False)
              for k in (from_file.profile.params.kll_k, from_history.profile.params.kll_k))
    assert sorted(from_history.profile.features) == sorted(from_file.profile.features)
    for name, fp in from_file.profile.features.items():
        got = from_history.profile.features[name]
        assert (got.n_present, got.n_missing, got.inferred_type) == (fp.n_present, fp.n_missing, fp.inferred_type)
        if fp.numeric.count:
            values = np.sort(np.array([r[name] for r in rows if r.get(name) is not None], dtype=float))
            assert got.numeric.mean == pytest.approx(fp.numeric.mean, rel=1e-9)
            for q, v in zip((0.05, 0.25, 0.5, 0.75, 0.95), got.numeric.kll.quantiles(
                    np.array([0.05, 0.25, 0.5, 0.75, 0.95])), strict=True):
                below, upto = (np.searchsorted(values, v, side=side) / len(values) for side in ("left", "right"))
                assert below - eps <= q <= upto + eps, (name, q)  # ties: v's ranks span [below, upto]
        if fp.categorical.count:
            assert got.categorical.frequencies() == fp.categorical.frequencies(), name
    assert from_history.constraints.to_dict()["features"] == from_file.constraints.to_dict()["features"]

    # drift over time: the worker's /report (its ring of the last windows) and report --from-history
    result = runner.invoke(main, ["report", "--from-history", "--config", str(config), "--model", MODEL, *span,
                                  "--baseline", str(tmp_path / "reference.json"), "--output",
                                  str(tmp_path / "history-report.html")])
    assert result.exit_code == 0, result.output
    assert f"drift over time of {len(SCENARIOS)} window(s)" in result.output
    if shutil.which("chromium") is not None:
        # income and region drifted from the baseline in one window each; nothing in the two since the restart
        _check_over_time(tmp_path / "history-report.html", live, len(SCENARIOS), 1, "report-from-history.png",
                         tmp_path, DRIFT_CHECKS - {ROLLING_CHECK})  # judged again: the rolling ones may differ
        since_restart = [e for e in live if e["window_start"] >= fourth]  # the worker's ring: windows since its start
        _check_over_time(tmp_path / "worker-report.html", since_restart, 2, 0, "worker-report.png", tmp_path)

    result = runner.invoke(main, ["history", "--config", str(config), "--model", MODEL, "--every", "1d", *span])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sum(line["windows"] for line in lines) == len(SCENARIOS)
    assert sum(line["n_records"] for line in lines) == len(rows)


def _timeseries(html: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r'<svg[^>]*data-chart="timeseries"[^>]*data-feature="([^"]+)"'
                                                         r".*?</svg>", html, re.S)}


def _check_over_time(page: Path, live: list[dict[str, Any]], n_windows: int, most_drifted: int, shot_name: str,
                     tmp_path: Path, checks: frozenset[str] = DRIFT_CHECKS) -> None:
    """The drift-over-time charts of ``page`` as Chromium builds them: one point per window, the live alerts
    of ``checks`` marked where they were raised and cleared, the longest drifted feature first."""
    charts = _timeseries(dump_dom(page, tmp_path / "profile"))
    assert charts, "no drift-over-time chart"
    for feature in {e["feature"] for e in live if e.get("check") in checks}:
        svg = charts[feature]
        assert len(re.findall(r'<circle[^>]*class="point', svg)) == n_windows, feature
        for check in checks:
            statuses = [e["status"] for e in live if e.get("feature") == feature and e["check"] == check]
            for status in ("raised", "cleared"):
                marked = re.findall(rf'<polygon[^>]*class="alert {status} {check}"', svg)
                assert len(marked) == statuses.count(status), (feature, check, status)
    drifted = [int(m) for svg in charts.values() for m in re.findall(r'data-drifted="(\d+)"', svg)]
    assert drifted == sorted(drifted, reverse=True)  # longest drifted first
    assert drifted[0] == most_drifted
    shot = tmp_path / shot_name
    assert screenshot(page, shot, tmp_path / "profile", size="1100,1600") == []
    assert drawn_share(shot.read_bytes()) > 0.01
    screens = Path(os.environ.get("STREAMDRIFT_SCREENS", "/work/notes/screens"))
    if screens.is_dir():
        shutil.copy(shot, screens / shot_name)
