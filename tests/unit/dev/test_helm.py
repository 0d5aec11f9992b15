"""The Helm chart deploy/helm/streamdrift rendered by ``helm template`` (default and secured values): what schema
validation (deploy/helm/check.sh) cannot see -- the wiring between objects, the probes, the instance ids, secrets
kept out of the ConfigMap, and the Prometheus rules and dashboard taken verbatim from deploy/."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "deploy" / "helm" / "streamdrift"


def _helm() -> str:
    local = REPO / ".tools" / "bin" / "helm"
    found = str(local) if local.is_file() else shutil.which("helm")
    if found is None:
        pytest.skip("helm not installed (bin/system-deps builds it into .tools/bin)")
    return found


def _render(*args: str) -> dict[tuple[str, str], dict[str, Any]]:
    done = subprocess.run([_helm(), "template", "sd", str(CHART), *args], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module")
def default() -> dict[tuple[str, str], dict[str, Any]]:
    return _render()


@pytest.fixture(scope="module")
def secured() -> dict[tuple[str, str], dict[str, Any]]:
    return _render("-f", str(CHART / "values-secured.yaml"))


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def test_default_objects(default: dict[tuple[str, str], dict[str, Any]]) -> None:
    kinds = sorted(kind for kind, _ in default)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget", "PodDisruptionBudget", "Secret",
                     "Service", "Service", "ServiceAccount", "StatefulSet"]  # fmt: skip


def test_dataplane_statefulset_uses_the_pod_name_as_instance_id(default: dict[tuple[str, str], Any]) -> None:
    sts = default[("StatefulSet", "sd-streamdrift-dataplane")]
    assert sts["spec"]["serviceName"] == "sd-streamdrift-dataplane"
    assert ("Service", "sd-streamdrift-dataplane") in default
    c = _container(sts)
    cmd = c["command"]
    assert cmd[:4] == ["streamdrift", "run", "--role", "dataplane"]
    assert cmd[cmd.index("--instance-id") + 1] == "$(POD_NAME)"
    pod_name = next(e for e in c["env"] if e["name"] == "POD_NAME")
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    port = cmd[cmd.index("--metrics-port") + 1]
    assert c["ports"] == [{"name": "metrics", "containerPort": int(port), "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert c["resources"]["requests"]["memory"] == "384Mi"  # measured RSS 252..301 MB (docs/worker.md)


def test_controlplane_deployment_probes_and_service(default: dict[tuple[str, str], Any]) -> None:
    dep = default[("Deployment", "sd-streamdrift-controlplane")]
    c = _container(dep)
    assert c["command"][:4] == ["streamdrift", "run", "--role", "controlplane"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    svc = default[("Service", "sd-streamdrift-controlplane")]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "controlplane"


def test_settings_configmap_and_secret_keep_secrets_apart(secured: dict[tuple[str, str], Any]) -> None:
    values = yaml.safe_load((CHART / "values-secured.yaml").read_text(encoding="utf-8"))
    settings = yaml.safe_load(secured[("ConfigMap", "sd-streamdrift-settings")]["data"]["streamdrift.yaml"])
    assert settings == values["settings"]
    password = values["credentials"]["saslPassword"]
    rendered = json.dumps([obj for (kind, _), obj in secured.items() if kind != "Secret"])
    assert password not in rendered and values["credentials"]["webAuthToken"] not in rendered
    secret = secured[("Secret", "sd-streamdrift-credentials")]
    assert base64.b64decode(secret["data"]["sasl-password"]).decode() == password
    for kind, name in (("StatefulSet", "sd-streamdrift-dataplane"), ("Deployment", "sd-streamdrift-controlplane")):
        c = _container(secured[(kind, name)])
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert env["STREAMDRIFT_SASL_PASSWORD"] == {"name": "sd-streamdrift-credentials", "key": "sasl-password",
                                                    "optional": True}  # fmt: skip
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert "/etc/streamdrift/tls" in mounts  # ssl.ca.location points there
        assert c["securityContext"]["readOnlyRootFilesystem"] is True and "/tmp" in mounts


def test_pod_disruption_budgets(default: dict[tuple[str, str], Any], secured: dict[tuple[str, str], Any]) -> None:
    assert default[("PodDisruptionBudget", "sd-streamdrift-dataplane")]["spec"]["maxUnavailable"] == 1
    assert default[("PodDisruptionBudget", "sd-streamdrift-controlplane")]["spec"]["maxUnavailable"] == 1
    assert secured[("PodDisruptionBudget", "sd-streamdrift-controlplane")]["spec"]["minAvailable"] == 1


def test_prometheus_rules_and_dashboard_are_the_files_of_deploy(secured: dict[tuple[str, str], Any]) -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    assert secured[("PrometheusRule", "sd-streamdrift")]["spec"]["groups"] == rules["groups"]
    monitors = {name: obj for (kind, name), obj in secured.items() if kind == "ServiceMonitor"}
    assert sorted(monitors) == ["sd-streamdrift-controlplane", "sd-streamdrift-dataplane"]
    assert monitors["sd-streamdrift-dataplane"]["spec"]["endpoints"][0]["port"] == "metrics"
    dashboard = secured[("ConfigMap", "sd-streamdrift-dashboard")]
    on_disk = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "streamdrift.json").read_text(encoding="utf-8"))
    assert json.loads(dashboard["data"]["streamdrift.json"]) == on_disk
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
