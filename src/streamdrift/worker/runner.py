"""Running the planes: signal handling, rebuild after fatal Kafka errors, the control plane's supervisor, the
``all`` role (a data plane and a supervised control plane, each its own process)."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry

from streamdrift.errors import KafkaError, PartialsTooLargeError
from streamdrift.metrics import Metrics
from streamdrift.settings import Settings
from streamdrift.worker.health import FAILED, REBUILDING, STOPPED, DataPlaneProbe, Heartbeat, serve

log = logging.getLogger(__name__)
_MAX_REBUILDS = 20
_CONTROL_GRACE_S = 120.0  # a new control plane's time to its first commit, beyond the stall limit
_CONTROL_STALL_S = 90.0  # a control plane without a commit for this long is stopped and started again
_STEADY_S = 120.0  # a data plane that ran this long before failing starts the count of rebuilds in a row again


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM / SIGINT set ``stop``: the loop commits (or aborts) its transaction and closes cleanly."""

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def tune_gc() -> None:
    """The data plane makes many short-lived objects (parsed records) and few cycles: move what the imports
    built out of the collector's way (``gc.freeze``) and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def stale_after(settings: Settings) -> float:
    """Seconds without a loop iteration after which the data plane counts as stalled for ``/health``."""
    return max(30.0, 10 * settings.commit_interval)


def run_dataplane(settings: Settings, stop: threading.Event, *, metrics_port: int | None = None,
                  heartbeat: Heartbeat | None = None) -> None:
    """Run the data plane until ``stop``; a fatal Kafka error (e.g. a fenced producer) rebuilds it. Its state goes
    to ``heartbeat`` (and, with ``metrics_port``, to its own ``/health`` beside ``/metrics``)."""
    tune_gc()
    beat = heartbeat if heartbeat is not None else Heartbeat()
    metrics = Metrics(CollectorRegistry(), settings.max_features_per_model, settings.segments.max_values)
    if metrics_port:
        serve(metrics_port, settings.web_host, metrics.registry, beat, stale_after(settings))
    rebuilds = 0
    beat.watch_stall(max(120.0, 4 * stale_after(settings)))  # a loop stuck this long dumps its stacks
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                run_planes(settings, stop, metrics=metrics, heartbeat=beat)
            except PartialsTooLargeError as exc:  # the partials topic takes less: go on with smaller partials
                log.error("%s", exc)
                limits = settings.limits.model_copy(update={"max_partial_bytes": exc.limit})
                settings = settings.model_copy(update={"limits": limits})
            except KafkaError as exc:
                # the limit is on failures in a row: each broker failure of a long-lived worker may cost a rebuild
                rebuilds = 1 if time.monotonic() - started > _STEADY_S else rebuilds + 1
                if rebuilds > _MAX_REBUILDS:
                    raise
                beat.set_state(REBUILDING)
                metrics.rebuilds.inc()
                log.error("data plane failed (%s); rebuilding clients (%d/%d)", exc, rebuilds, _MAX_REBUILDS)
                time.sleep(min(30.0, 0.5 * 2 ** min(rebuilds, 6)))
    except BaseException:
        beat.set_state(FAILED)
        raise
    finally:
        beat.watch_stall(None)
    beat.set_state(STOPPED)


def run_planes(settings: Settings, stop: threading.Event, *, metrics: Metrics, heartbeat: Heartbeat) -> None:
    """The capture topic's data plane and one per source, stepped in turn until ``stop``; each commits its own
    transactions. Without sources, just the capture topic's."""
    from streamdrift.worker.dataplane import DataPlane
    from streamdrift.worker.sources import capture_layout, parser_of, source_settings
    from streamdrift.worker.topics import partition_count

    if not settings.sources:
        DataPlane(settings, metrics=metrics, heartbeat=heartbeat).run(stop)
        return
    bases, _ = capture_layout(settings, lambda topic: partition_count(settings, topic))
    planes = [DataPlane(settings, metrics=metrics, heartbeat=heartbeat)]
    planes += [DataPlane(source_settings(settings, s), metrics=metrics, heartbeat=heartbeat,
                         source=parser_of(settings, s), partition_base=bases[s.name]) for s in settings.sources]
    started: list[DataPlane] = []
    try:
        for plane in planes:
            plane.start()
            started.append(plane)
        while not stop.is_set():
            for plane in planes:
                plane.step(0.05 / len(planes))
        for plane in planes:
            plane.commit()
    finally:
        for plane in started:
            plane.close()


def _dataplane_process(settings: Settings, metrics_port: int | None, heartbeat: Heartbeat) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s dataplane %(name)s: %(message)s")
    stop = threading.Event()
    install_stop_handlers(stop)
    run_dataplane(settings, stop, metrics_port=metrics_port, heartbeat=heartbeat)


def run_controlplane(settings: Settings, dataplane: DataPlaneProbe | None = None, progress: Any = None) -> None:
    from streamdrift.worker.controlplane import ControlPlane

    plane = ControlPlane(settings, dataplane=dataplane)
    plane.progress = progress
    plane.run()


class DataPlaneLink:
    """Role all: the data plane the control plane runs beside, as the control plane's child process sees it
    (the heartbeat and an ``alive`` flag the supervisor keeps current, both in shared memory)."""

    def __init__(self, heartbeat: Heartbeat, alive: Any) -> None:
        self.heartbeat, self.alive = heartbeat, alive

    def probe(self, settings: Settings) -> DataPlaneProbe:
        return DataPlaneProbe(self.heartbeat, lambda: bool(self.alive.value), stale_after(settings))


def supervise_controlplane(settings: Settings, stop: threading.Event, *,
                           watch: Callable[[], None] | None = None, beside: DataPlaneLink | None = None) -> None:
    """The faust worker in a child process, started again whenever it ends without ``stop``. faust ends its
    worker on a crash, e.g. ``ProducerFenced`` when a transaction coordinator moved and its transaction timed out
    meanwhile, and can hang after its group coordinator died (no commit, no crash): a child whose slowest
    partials partition committed nothing for ``_CONTROL_STALL_S`` is stopped and started again
    (streamdrift.worker.progress); a new process recovers the windows from the changelog. Failures in a row are
    limited as the data plane's rebuilds are; SIGTERM stops the child (it finishes its transactions) and returns.
    ``watch`` runs every half second (role all keeps the data plane's ``alive`` flag with it); ``beside``: the
    data plane ``/health`` reports (role all)."""
    context = multiprocessing.get_context("spawn")
    failures = 0
    progress = context.Value("d", 0.0, lock=False)  # the child's slowest partition's last commit (wall clock)
    while not stop.is_set():
        started = time.monotonic()
        progress.value = time.time() + _CONTROL_GRACE_S  # a new child restores its tables before it commits
        child = context.Process(target=_controlplane_process,
                                args=(settings, logging.getLogger().level, progress, beside), daemon=False)
        child.start()
        while child.is_alive() and not stop.is_set():
            child.join(0.5)
            if watch is not None:
                watch()
            if time.time() - progress.value > _CONTROL_STALL_S:
                log.error("control plane committed nothing on one of its partitions for %.0f s: stopping it",
                          _CONTROL_STALL_S)
                _end(child)
        if stop.is_set():
            _end(child)
            return
        failures = 1 if time.monotonic() - started > _STEADY_S else failures + 1
        if failures > _MAX_REBUILDS:
            raise KafkaError(f"the control plane ended {failures} times in a row (last exit code {child.exitcode})")
        log.error("control plane ended (exit code %s); starting it again (%d/%d)", child.exitcode, failures,
                  _MAX_REBUILDS)
        stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))


def _controlplane_process(settings: Settings, level: int, progress: Any, beside: DataPlaneLink | None) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s controlplane %(name)s: %(message)s")
    run_controlplane(settings, None if beside is None else beside.probe(settings), progress=progress)


def _end(child: multiprocessing.process.BaseProcess) -> None:
    if child.is_alive():
        child.terminate()  # SIGTERM: the child commits or aborts its transactions
        child.join(30)
    if child.is_alive():
        child.kill()
        child.join()


def run_all(settings: Settings, stop: threading.Event) -> None:
    """The data plane in a child process (it is CPU-bound) and the control plane (faust) in another, supervised
    as role controlplane's is; this process only watches them. A data plane that exits is reported dead by
    ``/health`` (it rebuilds its own clients; an exit is fatal)."""
    context = multiprocessing.get_context("spawn")
    heartbeat = Heartbeat(context)
    alive = context.Value("i", 1, lock=False)
    child = context.Process(
        target=_dataplane_process, args=(settings, settings.web_port + 1 if settings.web_port else None, heartbeat),
        daemon=False,
    )
    child.start()

    def watch() -> None:
        alive.value = int(child.is_alive())

    try:
        supervise_controlplane(settings, stop, watch=watch, beside=DataPlaneLink(heartbeat, alive))
    finally:
        _end(child)  # SIGTERM: the data plane finishes its transaction
