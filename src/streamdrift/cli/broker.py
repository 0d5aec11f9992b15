"""``streamdrift broker start|stop|status``: a local single-node Apache Kafka for development.

The broker keeps running after ``start`` returns (it leads its own process group); ``stop`` finds it by the
pid file in the data directory. Defaults match ``deploy/kafka/kafka.sh``: 127.0.0.1:9092, controller port
9093, data in ``./.kafka``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from streamdrift.dev.localkafka import LocalKafka, default_kafka_home, running_pid, stop_data_dir
from streamdrift.errors import BrokerError

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".kafka"),
    show_default=True,
    help="Broker data directory (logs, metadata, pid file, kafka.log).",
)


@click.group(name="broker")
def broker() -> None:
    """Run a local Apache Kafka broker (KRaft, single node) for development and the demo."""


@broker.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=9092, show_default=True, help="Client port.")
@click.option("--controller-port", type=click.IntRange(1, 65535), default=9093, show_default=True)
@_DATA_DIR
@click.option(
    "--kafka-home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="STREAMDRIFT_KAFKA_HOME",
    default=None,
    help="Directory with pom.xml, the templates and lib/ (default: deploy/kafka of this checkout).",
)
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for readiness.")
def start(port: int, controller_port: int, data_dir: Path, kafka_home: Path | None, timeout: float) -> None:
    """Start the broker in the background and wait until it serves metadata requests."""
    pid = running_pid(data_dir)
    if pid is not None:
        click.echo(f"already running (pid {pid}), data {data_dir}")
        return
    kafka = LocalKafka(port, controller_port, data_dir, kafka_home=kafka_home or default_kafka_home())
    began = time.monotonic()
    try:
        kafka.start(timeout=timeout)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Kafka ready on {kafka.bootstrap} in {time.monotonic() - began:.1f} s (pid {kafka.pid}, log {kafka.log_path})"
    )


@broker.command("stop")
@_DATA_DIR
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds before SIGKILL.")
def stop(data_dir: Path, timeout: float) -> None:
    """Stop the broker whose pid file is in the data directory."""
    try:
        pid = stop_data_dir(data_dir, timeout=timeout)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("not running" if pid is None else f"stopped (pid {pid})")


@broker.command("status")
@_DATA_DIR
def status(data_dir: Path) -> None:
    """Report whether a broker is running from the data directory (exit code 3 when it is not)."""
    pid = running_pid(data_dir)
    if pid is None:
        click.echo(f"stopped (data {data_dir})")
        raise SystemExit(3)
    click.echo(f"running (pid {pid}, data {data_dir}, bootstrap {_bootstrap(data_dir)})")


def _bootstrap(data_dir: Path) -> str:
    props = data_dir / "server.properties"
    try:
        lines = props.read_text(encoding="utf-8").splitlines()
    except OSError:
        return "unknown"
    prefix = "advertised.listeners=PLAINTEXT://"
    return next((line.removeprefix(prefix) for line in lines if line.startswith(prefix)), "unknown")
