"""docker-compose.yml, the Dockerfile and .dockerignore fit together and with the files they reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = _load(REPO / "docker-compose.yml")
    assert set(compose["volumes"]) >= {"kafka-data"}
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def _published(service: dict[str, Any]) -> set[int]:
    return {int(str(port).split(":")[-2]) for port in service.get("ports", [])}


def _host_mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path of bind mounts (``./host:/container[:ro]``)."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container, *_ = str(volume).split(":")
        if host.startswith("./"):
            mounts[container] = host
    return mounts


def test_services(services: dict[str, Any]) -> None:
    assert set(services) == {"kafka", "topics", "streamdrift-worker", "prometheus", "grafana"}


def test_kafka_is_single_node_kraft_with_container_listener(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.1.")
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert len(env["CLUSTER_ID"]) == 22
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1"
    assert "healthcheck" in kafka
    assert _published(kafka) == {29092}


def test_worker_runs_streamdrift_against_kafka(services: dict[str, Any]) -> None:
    worker = services["streamdrift-worker"]
    build = worker["build"]
    assert build["context"] == "."
    assert (REPO / build["context"] / build["dockerfile"]).is_file()
    command = worker["command"]
    assert command[:2] == ["streamdrift", "run"]
    assert command[command.index("--bootstrap") + 1] == "kafka:9092"
    env = _env(worker)
    assert env["STREAMDRIFT_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["STREAMDRIFT_WEB_PORT"] == "8000"
    assert env["STREAMDRIFT_WEB_HOST"] == "0.0.0.0"  # the default, 127.0.0.1, is the container's own loopback
    assert _published(worker) == {8000}
    assert _depends(worker) == {"kafka": "service_healthy", "topics": "service_completed_successfully"}


def test_topics_job_creates_topics_once_kafka_is_healthy(services: dict[str, Any]) -> None:
    topics = services["topics"]
    assert topics["command"][:3] == ["streamdrift", "topics", "create"]
    assert topics["image"] == services["streamdrift-worker"]["image"]
    assert topics["restart"] == "no"
    assert _depends(topics) == {"kafka": "service_healthy"}


def test_prometheus_mounts_the_repository_config(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounts = _host_mounts(prometheus)
    assert mounts == {
        "/etc/prometheus/prometheus.yml": "./deploy/prometheus/prometheus.yml",
        "/etc/prometheus/rules.yml": "./deploy/prometheus/rules.yml",
    }
    assert _published(prometheus) == {9090}
    assert "streamdrift-worker" in _depends(prometheus)


def test_grafana_mounts_provisioning_and_dashboards(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    assert _host_mounts(grafana) == {
        "/etc/grafana/provisioning": "./deploy/grafana/provisioning",
        "/var/lib/grafana/dashboards": "./deploy/grafana/dashboards",
    }
    assert _published(grafana) == {3000}
    assert "prometheus" in _depends(grafana)


def test_mounted_host_paths_exist(services: dict[str, Any]) -> None:
    for name in ("prometheus", "grafana"):
        for host in _host_mounts(services[name]).values():
            assert (REPO / host).exists(), f"{name} mounts missing {host}"


def test_prometheus_scrapes_the_worker_service(services: dict[str, Any]) -> None:
    config = _load(REPO / "deploy" / "prometheus" / "prometheus.yml")
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "streamdrift-worker:8000" in targets
    assert "/etc/prometheus/rules.yml" in config.get("rule_files", [])


def test_dockerfile_builds_the_wheel_installs_it_and_exposes_metrics() -> None:
    """Two stages: the wheel built with cargo (the native reader), then installed in a slim runtime image."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    stages = [line for line in lines if line.startswith("FROM")]
    assert stages == ["FROM python:3.11-slim AS build", "FROM python:3.11-slim"]
    build = lines[lines.index(stages[0]) : lines.index(stages[1])]
    runtime = lines[lines.index(stages[1]) :]
    assert any("rustup" in line for line in build)
    assert any(line.startswith("RUN pip wheel") and line.endswith(" .") for line in build)
    assert "COPY --from=build /wheels /wheels" in runtime
    assert any(line.startswith("RUN pip install /wheels/") for line in runtime)
    assert "EXPOSE 8000" in runtime
    assert "ENV STREAMDRIFT_WEB_HOST=0.0.0.0" in runtime  # reachable through the published port
    assert any(line.startswith("USER ") and "root" not in line for line in runtime)


def test_dockerignore_keeps_what_the_build_needs() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".kafka", "deploy/kafka/lib"} <= ignored
    assert not ignored & {"src", "schemas", "native", "pyproject.toml", "README.md", "."}
    assert "native/target" in ignored  # cargo's build output stays out of the context


def test_runtime_stage_has_no_compiler_and_a_numeric_non_root_user() -> None:
    """What hadolint (bin/test) does not check: the runtime stage installs no toolchain, copies only the wheels
    from the builder, and runs as a numeric non-root uid (Kubernetes' runAsNonRoot verifies only a number)."""
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    runtime_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    build, runtime = " ".join(lines[:runtime_from]), " ".join(lines[runtime_from:])
    for tool in ("gcc", "cc ", "rustup", "cargo", "rustc", "build-essential", "libc6-dev", "clang"):
        assert tool not in runtime, tool
    assert "gcc" in build and "rustup" in build  # the native extension is compiled in the builder
    copies = [line for line in lines[runtime_from:] if line.startswith("COPY")]
    assert copies == ["COPY --from=build /wheels /wheels"]
    user = [line.split()[1] for line in lines[runtime_from:] if line.startswith("USER ")]
    assert len(user) == 1 and all(part.isdigit() and int(part) > 0 for part in user[0].split(":")), user
    assert lines[-1].startswith("CMD [")  # JSON form: signals reach the worker, not a shell


def test_compose_and_chart_use_the_image_of_this_dockerfile(services: dict[str, Any]) -> None:
    assert services["streamdrift-worker"]["image"] == services["topics"]["image"] == "streamdrift:local"
    assert services["streamdrift-worker"]["build"]["dockerfile"] == "Dockerfile"
    values = _load(REPO / "deploy" / "helm" / "streamdrift" / "values.yaml")
    assert values["image"]["repository"] == "streamdrift"
    assert values["podSecurityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
