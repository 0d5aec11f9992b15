"""Running the planes: signal handling, rebuild after fatal Kafka errors, the two-process ``all`` role."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import threading
import time
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server

from streamdrift.errors import KafkaError
from streamdrift.metrics import Metrics
from streamdrift.settings import Settings

log = logging.getLogger(__name__)
_MAX_REBUILDS = 20


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


def run_dataplane(settings: Settings, stop: threading.Event, *, metrics_port: int | None = None) -> None:
    """Run the data plane until ``stop``; a fatal Kafka error (e.g. a fenced producer) rebuilds it."""
    from streamdrift.worker.dataplane import DataPlane

    tune_gc()

    metrics = Metrics(CollectorRegistry(), settings.max_features_per_model)
    if metrics_port:
        start_http_server(metrics_port, addr=settings.web_host, registry=metrics.registry)
    rebuilds = 0
    while not stop.is_set():
        try:
            DataPlane(settings, metrics=metrics).run(stop)
        except KafkaError as exc:
            rebuilds += 1
            if rebuilds > _MAX_REBUILDS:
                raise
            log.error("data plane failed (%s); rebuilding clients (%d/%d)", exc, rebuilds, _MAX_REBUILDS)
            time.sleep(min(30.0, 0.5 * 2 ** min(rebuilds, 6)))


def _dataplane_process(settings: Settings, metrics_port: int | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s dataplane %(name)s: %(message)s")
    stop = threading.Event()
    install_stop_handlers(stop)
    run_dataplane(settings, stop, metrics_port=metrics_port)


def run_controlplane(settings: Settings) -> None:
    from streamdrift.worker.controlplane import ControlPlane

    ControlPlane(settings).run()


def run_all(settings: Settings) -> None:
    """Data plane in a child process (it is CPU-bound), control plane (faust) in this one."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=_dataplane_process, args=(settings, settings.web_port + 1 if settings.web_port else None), daemon=False
    )
    child.start()
    try:
        run_controlplane(settings)
    finally:
        if child.is_alive() and child.pid is not None:
            child.terminate()  # SIGTERM: the data plane finishes its transaction
            child.join(30)
        if child.is_alive():
            child.kill()
            child.join()
