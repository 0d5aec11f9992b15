"""Secrets and exposure of a real running worker (issue 19): /status and /report answer only with the token,
/metrics and /health stay open, faust's own table and router endpoints are off, both web servers bind 127.0.0.1
by default, and no secret librdkafka option or password shows in /status or in the start-up log."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from harness import create_all_topics, settings_env, stop_worker, unique_settings, wait_until
from pydantic import SecretStr

from streamdrift.dev.localkafka import find_free_port
from streamdrift.settings import REDACTED

pytestmark = pytest.mark.integration

TOKEN = "web-token-3f9c1e7a5b2d4c6e8f0a"
# accepted by librdkafka on a PLAINTEXT connection (never used there), so the worker runs with them set
SECRET_OPTIONS = {
    "ssl.key.pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANs3cretkeymaterial\n-----END PRIVATE KEY-----\n",
    "ssl.key.password": "s3cret-keypw",
    "sasl.oauthbearer.config": "principal=svc clientId=abc clientSecret=s3cret-oauth-config",
    "sasl.oauthbearer.client.secret": "s3cret-client-secret",
    "ssl.keystore.password": "s3cret-keystore",
}


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), dict(response.headers), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers), bytes(exc.read())


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_status_needs_the_token_and_shows_no_secret(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = find_free_port(span=2)
    settings = unique_settings(kafka_bootstrap, capture_partitions=2, web_port=port, kafka=SECRET_OPTIONS,
                               sasl_password=SecretStr("s3cret-sasl-password"), web_auth_token=SecretStr(TOKEN))
    create_all_topics(settings)
    env = settings_env(settings)
    del env["STREAMDRIFT_WEB_HOST"]  # the default bind address
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamdrift", "run", "--log-level", "INFO"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(f"{base}/health")[0], lambda code: code == 200, timeout=90)
        wait_until(lambda: _get(f"http://127.0.0.1:{port + 1}/metrics")[0], lambda code: code == 200, timeout=60)
        open_codes = [_get(f"{base}/metrics")[0], _get(f"{base}/health")[0]]
        no_token = _get(f"{base}/status")
        wrong = _get(f"{base}/status", "web-token-3f9c1e7a5b2d4c6e8f0b")
        right = _get(f"{base}/status", TOKEN)
        model_codes = [_get(f"{base}/{path}/m1", token)[0] for path in ("status", "report") for token in (None, TOKEN)]
        faust_codes = [_get(f"{base}{path}", TOKEN)[0] for path in ("/table/", "/table/windows/", "/router/")]
        bound = {p: _listening(p) for p in (port, port + 1)}
    finally:
        stop_worker(proc)
    log_text = log_path.read_text(errors="replace")

    assert open_codes == [200, 200]  # Prometheus and probes need no credentials
    assert no_token[0] == wrong[0] == 401, (no_token, wrong)
    assert no_token[1]["WWW-Authenticate"] == wrong[1]["WWW-Authenticate"] == 'Bearer realm="streamdrift"'
    assert b"s3cret" not in no_token[2] + wrong[2]
    assert right[0] == 200
    status = orjson.loads(right[2])
    assert status["settings"]["kafka"] == dict.fromkeys(SECRET_OPTIONS, REDACTED)
    assert status["settings"]["sasl_password"] == status["settings"]["web_auth_token"] == REDACTED
    assert b"s3cret" not in right[2] and TOKEN.encode() not in right[2]
    assert model_codes == [401, 404, 401, 404]  # unknown model: found out only with the token
    assert faust_codes == [404, 404, 404]
    assert bound == {port: {"0100007F"}, port + 1: {"0100007F"}}, bound  # 127.0.0.1 only, both planes
    # the start-up log: the settings line is there, redacted; no secret anywhere in the worker's output
    assert "settings: {" in log_text and "'ssl.key.pem': '***'" in log_text, log_text[-3000:]
    assert "s3cret" not in log_text and TOKEN not in log_text, log_text[-3000:]
