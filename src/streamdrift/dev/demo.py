"""``streamdrift demo``: the whole product on one machine.

It starts a local Kafka broker (unless one is given), creates the topics, builds a baseline from a generated
training set and publishes it, runs a worker, and runs a simulated inference service that captures its
predictions through the SDK (and sends ground-truth labels a little later). The service then goes through
a series of incidents, one after another: incomes jumping in one region only (raised for that region's
segment, which the live view shows), a new category, a drop in accuracy, a
bias change, and applicants crowding around the decision boundary while no label arrives at all: only the
performance estimated from the calibrated scores (``model_quality/estimated_performance_check``) shows the drop. The terminal shows the windows and the drift events as they arrive. Everything it started is
stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import yaml

from streamdrift.baseline.baseline import DEFAULT_BASELINE_KLL_K, Baseline, MonitorOptions, build_baseline
from streamdrift.columns.chunks import Chunk
from streamdrift.columns.columns import columns_from_arrow
from streamdrift.dev.synthetic import CATEGORICAL, NUMERIC, Batch, Scenario, generate
from streamdrift.errors import StreamdriftError
from streamdrift.events.events import DriftEvent
from streamdrift.monitors.bias import FacetSpec
from streamdrift.monitors.segments.section import SegmentProfiler
from streamdrift.monitors.segments.spec import SegmentSpec
from streamdrift.profile.profiles import ProfileParams

MODEL_ID = "credit-risk"
LOG = logging.getLogger("streamdrift.demo")
# The order of incidents; each phase lasts `phase_windows` windows, with a normal phase between incidents.
PHASES: tuple[Scenario, ...] = (
    Scenario.NORMAL, Scenario.REGIONAL_INCOME, Scenario.NORMAL, Scenario.NEW_REGION, Scenario.NORMAL,
    Scenario.LABEL_FLIP, Scenario.NORMAL, Scenario.BIAS, Scenario.NORMAL, Scenario.BORDERLINE, Scenario.NORMAL,
)
UNLABELLED: frozenset[Scenario] = frozenset({Scenario.BORDERLINE})  # no ground truth is sent in these phases


@dataclass(frozen=True)
class DemoOptions:
    bootstrap: str | None = None  # None: start a local broker
    duration: float | None = None  # None: until Ctrl-C
    window_seconds: float = 10.0
    phase_windows: int = 2
    rate: int = 400  # captured predictions per second
    label_delay: float = 3.0  # ground truth arrives this many seconds after the prediction
    web_port: int = 8000
    training_rows: int = 50_000
    seed: int = 7


@dataclass
class DemoState:
    """What the live view shows; written by the simulator and the alert reader threads."""

    phase: str = "starting"
    sent: int = 0
    labels: int = 0
    events: deque[DriftEvent] = field(default_factory=lambda: deque(maxlen=14))
    raised: dict[str, int] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_event: Callable[[DriftEvent], None] | None = None

    def add_event(self, event: DriftEvent) -> None:
        with self.lock:
            self.events.appendleft(event)
            if event.status == "raised":
                self.raised[event.monitor] = self.raised.get(event.monitor, 0) + 1
        if self.on_event is not None:
            self.on_event(event)


def training_baseline(rows: int, seed: int) -> tuple[Baseline, Batch]:
    """A baseline of the synthetic model built from ``rows`` generated training records: feature profiles,
    model quality (label vs prediction and score), bias (facet gender=female), attributions, the calibration
    map of the estimated performance and the PCA of multivariate drift."""
    batch = generate(rows, np.random.default_rng(seed), Scenario.NORMAL)
    table = pa.table({name: batch.features[name] for name in (*NUMERIC, *CATEGORICAL)})
    chunk = Chunk(
        columns=columns_from_arrow(table), timestamps=None, ids=None,
        line_numbers=np.arange(1, rows + 1, dtype=np.int64), bytes_read=0,
        targets=batch.label.astype(np.float64), predictions=batch.prediction.astype(np.float64),
        scores=batch.score, attributions=columns_from_arrow(pa.table(batch.attributions)),
    )
    monitors = MonitorOptions(facets=(FacetSpec("gender", values=("female",)),), estimated_performance=True,
                              multivariate=True)
    segments = SegmentProfiler(SegmentSpec.parse("region"), ProfileParams(kll_k=DEFAULT_BASELINE_KLL_K))
    baseline = build_baseline([chunk], MODEL_ID, target="label", prediction="prediction", score="score",
                              monitors=monitors, segments=segments)  # drift per region too (docs/segments.md)
    return baseline, batch


@contextlib.contextmanager
def _broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap is not None:
        yield bootstrap
        return
    from streamdrift.dev.localkafka import LocalKafka

    broker = LocalKafka()
    LOG.info("starting a local Kafka broker")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def _worker(config: dict[str, Any], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    path = workdir / "worker.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (workdir / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamdrift", "run", "--config", str(path), "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _simulate(bootstrap: str, options: DemoOptions, state: DemoState, stop: threading.Event) -> None:
    """The inference service: captures every prediction, sends its label ``label_delay`` seconds later."""
    from streamdrift.sdk.client import CaptureClient

    rng = np.random.default_rng(options.seed + 1)
    pending: deque[tuple[float, str, int]] = deque()
    tick = 0.1
    per_tick = max(1, int(options.rate * tick))
    phase_seconds = options.window_seconds * options.phase_windows
    started = time.monotonic()
    with CaptureClient(bootstrap, MODEL_ID, model_version="1") as client:
        while not stop.is_set():
            now = time.monotonic()
            scenario = PHASES[min(int((now - started) // phase_seconds), len(PHASES) - 1)]
            state.phase = scenario.value
            batch = generate(per_tick, rng, scenario)
            for i, row in enumerate(batch.rows()):
                attributions = {name: float(batch.attributions[name][i]) for name in NUMERIC}
                prediction = {"label": int(batch.prediction[i]), "score": float(batch.score[i])}
                inference_id = client.capture(row, prediction, attributions=attributions)
                if inference_id is not None and scenario not in UNLABELLED:
                    pending.append((now + options.label_delay, inference_id, int(batch.label[i])))
            state.sent += batch.n
            while pending and pending[0][0] <= now:
                _, inference_id, label = pending.popleft()
                client.label(inference_id, label)
                state.labels += 1
            stop.wait(max(0.0, tick - (time.monotonic() - now)))


def _read_alerts(bootstrap: str, topic: str, state: DemoState, stop: threading.Event) -> None:
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"streamdrift-demo-view-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "isolation.level": "read_committed", "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            for msg in consumer.consume(100, timeout=0.5):
                value = msg.value()
                if msg.error() is None and value:
                    with contextlib.suppress(StreamdriftError, orjson.JSONDecodeError, TypeError, ValueError):
                        state.add_event(DriftEvent.from_json(value))
    finally:
        consumer.close()


def _poll_status(url: str, state: DemoState, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=2) as response:
            state.status = orjson.loads(response.read())


def _render(state: DemoState, options: DemoOptions, elapsed: float) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    with state.lock:
        events = list(state.events)
        raised = dict(state.raised)
    windows = state.status.get("windows", []) if isinstance(state.status, dict) else []
    head = (
        f"model [b]{MODEL_ID}[/b] · phase [b]{state.phase}[/b] · {elapsed:.0f}s · predictions {state.sent:,} · "
        f"labels {state.labels:,} · windows evaluated {len(windows)} · alerts raised "
        + (", ".join(f"{k} {v}" for k, v in sorted(raised.items())) or "none")
        + f"\nmetrics: http://127.0.0.1:{options.web_port}/metrics · status: "
        f"http://127.0.0.1:{options.web_port}/status/{MODEL_ID}"
    )
    table = Table(title="drift events (newest first)", expand=True)
    for column in ("window", "monitor", "check", "feature / metric", "segment", "value", "threshold", "status"):
        table.add_column(column)
    for e in events:
        style = "red" if e.status == "raised" else "green"
        value = "" if e.value is None else f"{e.value:.4g}"
        threshold = "" if e.threshold is None else f"{e.threshold:.4g}"
        table.add_row(e.window_start[11:19], e.monitor, e.check, e.feature or e.metric or "", e.segment or "(all)",
                      value, threshold, e.status, style=style)
    return Group(Panel(head, title="streamdrift demo"), table)


def _worker_config(bootstrap: str, options: DemoOptions) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "group_id": f"streamdrift-demo-{uuid.uuid4().hex[:8]}",
        "window": {"size": options.window_seconds, "lateness": 1.0, "idle_timeout": options.window_seconds},
        "commit_interval": 0.5,
        "merge_timeout": options.window_seconds * 2,
        "labels": {"delay": options.label_delay + 2.0},  # model quality waits for the labels it sends
        "web_port": options.web_port,
    }


def describe(event: DriftEvent) -> str:
    """One line per event, for logs and terminals without a live view."""
    value = "" if event.value is None else f" {event.statistic}={event.value:.4g}"
    threshold = "" if event.threshold is None else f" (threshold {event.threshold:.4g})"
    segment = "" if event.segment is None else f" [segment {event.segment}]"
    return (f"{event.window_start} {event.status.upper():7} {event.monitor}/{event.check} "
            f"{event.feature or event.metric or ''}{segment}{value}{threshold}")


def run_demo(options: DemoOptions, *, live: bool = True, on_event: Callable[[DriftEvent], None] | None = None) -> DemoState:
    """Run the demo until ``options.duration`` passes or Ctrl-C; returns what it saw."""
    from rich.console import Console
    from rich.live import Live

    from streamdrift.settings import Settings
    from streamdrift.worker.baselines import publish_baseline
    from streamdrift.worker.topics import create_topics, topic_specs

    console = Console()
    state = DemoState(on_event=on_event)
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="streamdrift-demo-") as tmp, _broker(options.bootstrap) as bootstrap:
        settings = Settings(bootstrap_servers=bootstrap)
        create_topics(settings, topic_specs(settings))
        console.print(f"broker {bootstrap}: topics ready; building the baseline from {options.training_rows:,} "
                      "training records")
        baseline, _ = training_baseline(options.training_rows, options.seed)
        publish_baseline(settings, baseline.to_json())
        console.print(f"published baseline {baseline.baseline_id}; starting the worker (log: {tmp}/worker.log)")
        with _worker(_worker_config(bootstrap, options), Path(tmp)) as worker:
            threads = [
                threading.Thread(target=_simulate, args=(bootstrap, options, state, stop), daemon=True),
                threading.Thread(target=_read_alerts, args=(bootstrap, settings.topics.alerts, state, stop),
                                 daemon=True),
                threading.Thread(target=_poll_status, daemon=True, args=(
                    f"http://127.0.0.1:{options.web_port}/status/{MODEL_ID}", state, stop)),
            ]
            for t in threads:
                t.start()
            started = time.monotonic()
            try:
                with Live(_render(state, options, 0.0), console=console, refresh_per_second=2,
                          transient=False) if live else contextlib.nullcontext() as view:
                    while options.duration is None or time.monotonic() - started < options.duration:
                        if worker.poll() is not None:
                            raise StreamdriftError(f"the worker exited with status {worker.returncode}; "
                                                   f"see {tmp}/worker.log")
                        time.sleep(0.5)
                        if view is not None:
                            view.update(_render(state, options, time.monotonic() - started))
            except KeyboardInterrupt:
                console.print("stopping (Ctrl-C)")
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=15)
    return state
