"""``streamdrift baseline``: build a baseline from a file and show one.

The ``baseline`` group object is public. Subcommands defined elsewhere are listed in ``LAZY_SUBCOMMANDS`` and
imported on first use (``baseline publish`` lives in ``streamdrift.cli.baseline_publish``, with the Kafka code);
other modules may also call ``baseline.add_command(...)``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from streamdrift.cli.options import input_format_choice, text_input_options
from streamdrift.errors import StreamdriftError

if TYPE_CHECKING:
    from streamdrift.baseline.clarify import ClarifyAnalysis
    from streamdrift.baseline.document import Baseline
    from streamdrift.columns.chunks import BadLine, Chunk
    from streamdrift.monitors.bias import FacetSpec, Scalar
    from streamdrift.monitors.segments.section import SegmentProfiler
    from streamdrift.profile.profiles import ProfileParams

P = ParamSpec("P")
R = TypeVar("R")
EXIT_ERROR = 2


def exit_on_error(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a StreamdriftError into a one-line message on stderr and exit status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except StreamdriftError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


# Subcommands defined in other modules, loaded on first use: name -> (module, attribute). Other modules may also
# call ``baseline.add_command(...)`` directly.
LAZY_SUBCOMMANDS: dict[str, tuple[str, str]] = {"publish": ("streamdrift.cli.baseline_publish", "publish")}


class _BaselineGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, (module, _) in LAZY_SUBCOMMANDS.items() if importlib.util.find_spec(module))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in LAZY_SUBCOMMANDS:
            return command
        module_name, attr = LAZY_SUBCOMMANDS[cmd_name]
        if importlib.util.find_spec(module_name) is None:
            return None
        loaded = getattr(importlib.import_module(module_name), attr)
        return loaded if isinstance(loaded, click.Command) else None


@click.group(name="baseline", cls=_BaselineGroup)
def baseline() -> None:
    """Build, inspect and publish model baselines."""


@baseline.command("build")
@click.option("--input", "input_path", default=None, type=click.Path(path_type=Path), help="CSV, JSON Lines or Parquet file.")
@click.option("--model-id", "--model", "model_id", required=True, help="Model the baseline belongs to.")
@click.option("--from-history", is_flag=True, help="From the model's stored windows (the profiles topic) instead of "
              "a file: --bootstrap / --config, --from, --to (docs/history.md).")
@click.option("--bootstrap", default=None, help="--from-history: Kafka bootstrap servers.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="The worker's settings file: with --from-history its topics (history.topic); with --source its "
                   "source mappings.")
@click.option("--from", "from_time", default=None, help="--from-history: first window start (ISO-8601 / epoch ms).")
@click.option("--to", "to_time", default=None, help="--from-history: windows starting before this.")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Baseline JSON to write.")
@click.option("--format", "fmt", type=input_format_choice(),
              default=None, help="Input format (default: from the file name).")
@text_input_options
@click.option("--no-header", is_flag=True, help="CSV has no header row (columns become _c0, _c1, ...).")
@click.option("--target", default=None, help="Ground-truth column (recorded, not monitored as a feature).")
@click.option("--prediction", default=None, help="Prediction column (recorded, not monitored as a feature).")
@click.option("--score", default=None, help="Score / probability column (recorded, not a feature).")
@click.option("--timestamp-column", default=None,
              help="Event-time column (not a feature). Default: a detected ISO-8601 / epoch time column is suggested.")
@click.option("--id-column", default=None, help="Row id column (not a feature).")
@click.option("--exclude", multiple=True, help="Column to leave out (repeatable).")
@click.option("--feature", "features", multiple=True,
              help="Keep this column a drift-tested feature even if it looks like a time or id column (repeatable).")
@click.option("--kll-k", type=click.IntRange(8, 65535), default=2048, show_default=True,
              help="KLL sketch k of the baseline (= baseline.DEFAULT_BASELINE_KLL_K; windows use their own k).")
@click.option("--problem-type", type=click.Choice(["auto", "binary_classification", "multiclass_classification",
                                                 "regression"]), default="auto", show_default=True,
              help="Model-quality problem type (auto: from the labels).")
@click.option("--facet", "facets", multiple=True, metavar="COL=V[,V]|COL>=T",
              help="Bias facet: the sensitive group's value(s) or a numeric threshold (repeatable).")
@click.option("--positive-label", default=None, help="Positive outcome label (default: 1 / true).")
@click.option("--score-threshold", type=float, default=None,
              help="Predicted positive when score >= this (bias; also the binary model-quality threshold).")
@click.option("--attributions", "attributions_path", default=None, type=click.Path(path_type=Path),
              help="CSV / JSON Lines of per-record attributions, one column per feature.")
@click.option("--clarify-analysis", default=None, type=click.Path(path_type=Path),
              help="SageMaker Clarify analysis.json: its bias / attribution baselines are used.")
@click.option("--source", "source_name", default=None,
              help="Read the JSON Lines input through this source's preset and mapping (docs/sources.md).")
@click.option("--envelope", is_flag=True, help='With --source: lines are {"value", "key", "headers", "timestamp"}.')
@click.option("--estimate-performance", "calibration", type=click.Choice(["isotonic", "histogram"]), default=None,
              help="Fit a calibration map of the scores (needs --target and --score; multiclass: --prediction too): "
                   "the worker and check then estimate accuracy (binary: also precision, recall, F1, AUC) per window "
                   "without labels.")
@click.option("--multivariate", "variance_share", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, metavar="SHARE",
              help="Fit a PCA of the features keeping this share of the variance (e.g. 0.9): multivariate drift "
                   "by reconstruction error.")
@click.option("--segment-by", default=None, metavar="FIELDS",
              help="Also profile each segment of the traffic by these fields, e.g. region or region,tier "
                   "(docs/segments.md).")
@click.option("--segment-buckets", "segment_buckets", multiple=True, metavar="COL=E1,E2,...",
              help="With --segment-by: cut numeric field COL at these edges, e.g. age=0,30,50 (repeatable).")
@click.option("--segment-min-rows", type=click.IntRange(1), default=200, show_default=True,
              help="Segments with fewer rows keep only their count (their windows are compared with the whole).")
@click.option("--chunk-rows", type=click.IntRange(1), default=100_000, show_default=True, hidden=True)
@exit_on_error
def build(input_path: Path | None, model_id: str, from_history: bool, bootstrap: str | None,
          config_file: Path | None, from_time: str | None, to_time: str | None, output: Path, fmt: str | None,
          encoding: str | None, max_line_bytes: int,
          no_header: bool, target: str | None,
          prediction: str | None, score: str | None, timestamp_column: str | None, id_column: str | None,
          exclude: tuple[str, ...], features: tuple[str, ...], kll_k: int, problem_type: str, facets: tuple[str, ...],
          positive_label: str | None, score_threshold: float | None, attributions_path: Path | None,
          clarify_analysis: Path | None, source_name: str | None, envelope: bool,
          calibration: str | None, variance_share: float | None, segment_by: str | None,
          segment_buckets: tuple[str, ...], segment_min_rows: int, chunk_rows: int) -> None:
    """Profile a file into a baseline (statistics, sketches, suggested constraints and monitor sections).

    Time columns (ISO-8601 text, epoch numbers) and identifier-like columns (UUIDs, distinct count close to the
    row count) are detected: a time column is suggested as the event time and not profiled, identifier-like
    columns are not drift-tested. ``baseline show`` lists each column's role and why.
    """
    if from_history or input_path is None:
        _build_from_history(from_history, model_id, output, bootstrap, config_file, from_time, to_time)
        return
    from streamdrift.baseline.baseline import MonitorOptions, build_baseline
    from streamdrift.baseline.roles import RoleOptions
    from streamdrift.columns.chunks import RoleColumns
    from streamdrift.ingest.files import iter_chunks, iter_columns
    from streamdrift.profile.profiles import ProfileParams

    bad: list[BadLine] = []
    if source_name is not None:
        chunks, prediction, score = _mapped(input_path, config_file, source_name, model_id, envelope, chunk_rows,
                                            bad.append, prediction, score)
    else:
        chunks = iter_chunks(
            input_path, fmt=fmt, chunk_rows=chunk_rows, has_header=False if no_header else None,
            exclude=exclude, timestamp_column=timestamp_column, id_column=id_column,
            prediction_column=prediction or "prediction", on_bad_line=bad.append,
            roles=RoleColumns(target, prediction, score), encoding=encoding, max_line_bytes=max_line_bytes,
        )
    options = MonitorOptions(
        problem_type=problem_type,  # type: ignore[arg-type]  # click.Choice checked the value
        facets=tuple(parse_facet(f) for f in facets),
        positive_label=(parse_scalar(positive_label),) if positive_label is not None else (1, True),
        score_threshold=score_threshold,
        estimated_performance=calibration is not None,
        calibration="histogram" if calibration == "histogram" else "isotonic",
        multivariate=variance_share is not None,
        variance_share=variance_share if variance_share is not None else 0.9,
    )
    attributions = (iter_columns(attributions_path, chunk_rows=chunk_rows, encoding=encoding,
                                 max_line_bytes=max_line_bytes) if attributions_path else None)
    role_options = RoleOptions(timestamp_column=timestamp_column, id_column=id_column, exclude=exclude,
                               features=features)
    with _progress(input_path) as advance:
        result = build_baseline(
            _progress_chunks(chunks, advance), model_id, target=target, prediction=prediction,
            score=score, params=ProfileParams(kll_k=kll_k), monitors=options, attributions=attributions,
            clarify=_clarify(clarify_analysis), roles=role_options,
            segments=_segments(segment_by, segment_buckets, segment_min_rows, ProfileParams(kll_k=kll_k)),
        )
    result.save(output)
    for name, role in result.column_roles.items():
        if role.detected:
            click.echo(f"column {name!r}: {role.role} ({role.reason})", err=True)
    sections = [k for k in ("model_quality", "bias", "attribution") if getattr(result, k) is not None]
    if sections:
        click.echo(f"monitor sections: {', '.join(sections)}", err=True)
    if bad:
        first = bad[0]
        click.echo(f"skipped {len(bad)} bad row(s); first at line {first.line_number}: {first.reason} "
                   f"{first.detail}".rstrip(), err=True)
    click.echo(f"wrote {output}: {result.profile.n_records} records, {len(result.profile.features)} features, "
               f"baseline_id {result.baseline_id}", err=True)


def _segments(by: str | None, buckets: tuple[str, ...], min_rows: int,
              params: ProfileParams) -> SegmentProfiler | None:
    from streamdrift.errors import ConfigError
    from streamdrift.monitors.segments.section import SegmentProfiler
    from streamdrift.monitors.segments.spec import SegmentSpec

    if by is None:
        if buckets:
            raise ConfigError("--segment-buckets needs --segment-by")
        return None
    edges: dict[str, list[float]] = {}
    for item in buckets:
        name, sep, values = item.partition("=")
        try:
            edges[name.strip()] = [float(v) for v in values.split(",")]
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--segment-buckets {item!r}: expected COL=E1,E2,...")
    return SegmentProfiler(SegmentSpec.parse(by, edges), params, min_rows=min_rows)


def _mapped(path: Path, config_file: Path | None, source_name: str, model_id: str, envelope: bool, chunk_rows: int,
            on_bad: Callable[[BadLine], None], prediction: str | None,
            score: str | None) -> tuple[Iterator[Chunk], str | None, str | None]:
    """The input's chunks through a source's mapping, and the prediction / score role names it fills."""
    from streamdrift.ingest.sources.engine import MappedParser
    from streamdrift.ingest.sources.files import mapped_chunks
    from streamdrift.settings import load_settings

    if config_file is None:
        raise click.UsageError("--source needs --config (the settings file with the sources section)")
    settings = load_settings(config_file)
    source = next((s for s in settings.sources if s.name == source_name), None)
    if source is None:
        raise click.UsageError(f"no source named {source_name!r} in {config_file}")
    parser = MappedParser(source, limits=settings.limits.capture_limits(), max_bytes=settings.max_record_bytes)
    chunks = mapped_chunks(path, parser, model_id, chunk_rows=chunk_rows, envelope=envelope, on_bad_line=on_bad)
    mapping = source.mapping
    return (chunks, prediction or ("prediction" if mapping.prediction else None),
            score or ("score" if mapping.score else None))

def _build_from_history(from_history: bool, model_id: str, output: Path, bootstrap: str | None,
                        config_file: Path | None, from_time: str | None, to_time: str | None) -> None:
    if not from_history:
        raise click.UsageError("give --input FILE, or --from-history with --bootstrap / --config")
    from streamdrift.cli.historysource import baseline_from_history, load_settings_for

    result = baseline_from_history(load_settings_for(config_file, bootstrap, ()), model_id, from_time, to_time)
    result.save(output)
    source = result.extra["source"]
    click.echo(f"wrote {output}: {result.profile.n_records} records of {source['windows']} windows "
               f"({source['first_window_start']} .. {source['last_window_end']}), baseline_id {result.baseline_id}",
               err=True)


class _ProgressContext:
    """A rich progress bar over the bytes of a file on a terminal; a no-op elsewhere."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[int], None]:
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self._progress = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                                      TimeRemainingColumn(), console=console, transient=True)
            self._progress.start()
            size = self._path.stat().st_size if self._path.is_file() else None
            self._task = self._progress.add_task(f"profiling {self._path.name}", total=size)
        return self._advance

    def _advance(self, position: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=position)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _progress(path: Path) -> _ProgressContext:
    return _ProgressContext(path)


@baseline.command("show")
@click.argument("path", type=click.Path(path_type=Path))
@exit_on_error
def show(path: Path) -> None:
    """Print a baseline's features as a table."""
    from rich.console import Console

    from streamdrift.baseline.baseline import Baseline

    loaded = Baseline.load(path)
    console = Console()
    console.print(f"[bold]{loaded.baseline_id}[/bold]  model {loaded.model_id}  created {loaded.created_at}  "
                  f"records {loaded.profile.n_records}  constraints from {loaded.constraints.source}")
    roles = {"target": loaded.target, "prediction": loaded.prediction, "score": loaded.score}
    named = ", ".join(f"{k}={v}" for k, v in roles.items() if v)
    if named:
        console.print(f"columns: {named}")
    console.print(_features_table(loaded))
    console.print(_roles_table(loaded))


def _features_table(loaded: Baseline) -> Any:
    from rich.table import Table

    from streamdrift.baseline.baseline import feature_summary

    table = Table(show_lines=False)
    for title in ("feature", "type", "count", "missing", "mean", "std", "min", "max", "distinct / top", "constraints"):
        table.add_column(title, justify="right" if title in ("count", "missing", "mean", "std", "min", "max")
                         else "left")
    for name, fp in sorted(loaded.profile.features.items()):
        table.add_row(name, *_summary_cells(feature_summary(fp), loaded.constraints.features.get(name)))
    return table


def _summary_cells(summary: dict[str, Any], constraint: Any) -> list[str]:
    num = summary.get("numeric") or {}
    cat = summary.get("categorical") or {}
    top = ", ".join(str(t["value"]) for t in cat.get("top", [])[:3])
    categories = f"{cat['distinct_count']:.0f}: {top}" if cat else ""
    return [
        summary["inferred_type"], str(summary["count"]), str(summary["missing"]),
        *(_fmt(num.get(k)) for k in ("mean", "std_dev", "min", "max")),
        categories, _constraint_text(constraint),
    ]


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ""


def _constraint_text(constraint: Any) -> str:
    if constraint is None:
        return ""
    parts = [f"complete>={constraint.completeness:.3g}"]
    if constraint.is_non_negative:
        parts.append(">=0")
    if constraint.domain is not None:
        parts.append(f"domain({len(constraint.domain)})")
    elif constraint.high_cardinality:
        parts.append("no domain (many values)")
    if constraint.skip_drift is not None:
        parts.append("not drift-tested")
    return " ".join(parts)


def column_roles(loaded: Baseline) -> list[tuple[str, str, str]]:
    """(column, role, reason) of every input column that is not a plain drift-tested feature, or whose role was
    declared: target / prediction / score, the baseline's column roles, features whose constraint skips drift."""
    rows = [(name, kind, "declared with --" + kind) for kind, name in
            (("target", loaded.target), ("prediction", loaded.prediction), ("score", loaded.score)) if name]
    rows += [(name, role.role, ("detected: " if role.detected else "") + role.reason)
             for name, role in loaded.column_roles.items()]
    listed = {name for name, _, _ in rows}
    rows += [(name, "feature", f"not drift-tested: {c.skip_drift}")
             for name, c in sorted(loaded.constraints.features.items()) if c.skip_drift and name not in listed]
    return rows


def _roles_table(loaded: Baseline) -> Any:
    from rich.table import Table

    table = Table(title="columns that are not plain features", show_lines=False)
    for title in ("column", "role", "why"):
        table.add_column(title)
    for row in column_roles(loaded):
        table.add_row(*row)
    if not table.rows:
        table.add_row("(none)", "", "every column is a drift-tested feature")
    return table


def _progress_chunks(chunks: Iterator[Chunk], advance: Callable[[int], None]) -> Iterator[Chunk]:
    """The chunks, reporting progress; holds no reference to a chunk while the next is read."""
    while (chunk := next(chunks, None)) is not None:
        advance(chunk.bytes_read)
        yield chunk
        del chunk


def parse_scalar(text: str) -> Scalar:
    """A command-line value: true / false, an int or a float when it reads as one, else the text."""
    if text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_facet(text: str) -> FacetSpec:
    """``COL=V[,V...]`` (the sensitive group's values) or ``COL>=THRESHOLD`` (numeric facet)."""
    from streamdrift.errors import ConfigError
    from streamdrift.monitors.bias import FacetSpec

    if ">=" in text:
        name, _, threshold = text.partition(">=")
        try:
            return FacetSpec(name.strip(), threshold=float(threshold))
        except ValueError as exc:
            raise ConfigError(f"--facet {text!r}: the threshold must be a number") from exc
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise ConfigError(f"--facet {text!r}: expected COL=VALUE[,VALUE] or COL>=THRESHOLD")
    return FacetSpec(name.strip(), values=tuple(parse_scalar(v.strip()) for v in values.split(",")))


def _clarify(path: Path | None) -> ClarifyAnalysis | None:
    if path is None:
        return None
    from streamdrift.baseline.clarify import parse_analysis
    from streamdrift.errors import BaselineError

    try:
        return parse_analysis(path.read_bytes())
    except OSError as exc:
        raise BaselineError(f"cannot read {path}: {exc}") from exc
