"""``streamdrift run``: the stream worker (data plane, control plane or both)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from streamdrift.errors import StreamdriftError
from streamdrift.settings import Settings, load_cli_settings
from streamdrift.window.spilldir import private_directory


def _settings_help(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    lines = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.extend(_settings_help(annotation, f"{prefix}{name}."))
            continue
        env = "STREAMDRIFT_" + f"{prefix}{name}".replace(".", "__").upper()
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None else f" [default: {default}]"
        desc = f" - {info.description}" if info.description else ""
        lines.append(f"{prefix}{name} ({env}){shown}{desc}")
    return lines


EPILOG = (
    "\b\nSettings (config file keys; environment variables in parentheses; flags win over the environment, "
    "which wins over the config file):\n" + "\n".join("  " + line for line in _settings_help())
)


@click.command(epilog=EPILOG, context_settings={"max_content_width": 120})
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="YAML or TOML settings file")
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers")
@click.option("--group-id", default=None, help="consumer group of the data plane (control plane: <group>-control)")
@click.option("--instance-id", default=None, help="stable data-plane instance id (static membership, fixed "
              "transactional.id); give each replica its own")
@click.option("--window", default=None, help="window size, e.g. 60s, 5m")
@click.option("--lateness", default=None, help="allowed lateness, e.g. 10s")
@click.option("--idle-timeout", default=None, help="advance an idle partition's watermark after this long")
@click.option("--commit-interval", default=None, help="data-plane transaction interval, e.g. 2s")
@click.option("--merge-timeout", default=None, help="evaluate a window as partial after this long")
@click.option("--web-port", type=int, default=None, help="control-plane web port (/metrics /health /status); "
              "the data plane serves /metrics on web-port + 1 in role all")
@click.option("--web-host", default=None, help="address the web servers bind (default 127.0.0.1: this machine "
              "only; 0.0.0.0: every interface). Credentials for /status and /report: STREAMDRIFT_WEB_AUTH_TOKEN "
              "or the config file, never a flag (see docs/security.md)")
@click.option("--labels/--no-labels", "labels_enabled", default=None,
              help="consume the labels topic (model quality); default on")
@click.option("--label-delay", default=None, help="how long after a window ends its labels still count in it, e.g. "
              "1h (default): its model quality is evaluated then; data quality does not wait")
@click.option("--label-ttl", default=None, help="how long a prediction or label waits for its match, e.g. 24h")
@click.option("--join-spill-dir", default=None, help="directory of the label join's spill files: created 0700; "
              "refused when another user owns it or others may write to it")
@click.option("--kafka-option", "kafka_options", multiple=True, metavar="KEY=VALUE",
              help="librdkafka option for every client (repeatable), e.g. security.protocol=SASL_SSL")
@click.option("--role", type=click.Choice(["all", "dataplane", "controlplane"]), default="all", show_default=True)
@click.option("--metrics-port", type=int, default=None, help="role dataplane: serve its /metrics on this port")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO")
def run(config_file: Path | None, kafka_options: tuple[str, ...], role: str, metrics_port: int | None,
        log_level: str, **flags: Any) -> None:
    """Run the streamdrift worker: capture -> windowed sketches -> drift events on the alerts topic."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {
        "bootstrap_servers": flags["bootstrap"],
        "group_id": flags["group_id"],
        "instance_id": flags["instance_id"],
        "window.size": flags["window"],
        "window.lateness": flags["lateness"],
        "window.idle_timeout": flags["idle_timeout"],
        "commit_interval": flags["commit_interval"],
        "merge_timeout": flags["merge_timeout"],
        "web_port": flags["web_port"],
        "web_host": flags["web_host"],
        "labels.enabled": flags["labels_enabled"],
        "labels.delay": flags["label_delay"],
        "labels.ttl": flags["label_ttl"],
        "labels.spill_dir": flags["join_spill_dir"],
    }
    try:
        settings = load_cli_settings(config_file, overrides, kafka_options)
        logging.getLogger("streamdrift").info("settings: %s", settings.redacted())
        _run_role(settings, role, metrics_port)
    except StreamdriftError as exc:
        raise click.ClickException(str(exc)) from exc


def _run_role(settings: Settings, role: str, metrics_port: int | None) -> None:
    from streamdrift.worker import runner

    if role != "controlplane" and settings.labels.enabled and settings.labels.spill_dir is not None:
        private_directory(settings.labels.spill_dir)  # refused now with a clear error, not at the first assignment

    from streamdrift.worker.access import check_access

    check_access(settings, role)  # credentials and ACLs: a clear error now, naming the listener or topic
    stop = threading.Event()
    runner.install_stop_handlers(stop)
    if role == "dataplane":
        runner.run_dataplane(settings, stop, metrics_port=metrics_port)
    elif role == "controlplane":
        runner.supervise_controlplane(settings, stop)
    else:
        runner.run_all(settings, stop)
