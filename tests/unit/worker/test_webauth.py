"""Authentication of /status and /report: bearer token, basic auth, malformed headers, the start-up warning."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from streamdrift.settings import Settings
from streamdrift.worker.webauth import WebAuth, exposure_warning, is_loopback

TOKEN = "0123456789abcdef-token"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_no_credentials_configured_leaves_the_endpoints_open() -> None:
    auth = WebAuth.from_settings(Settings())
    assert not auth.enabled and auth.allows(None) and auth.allows("Bearer anything")


def test_bearer_token() -> None:
    auth = WebAuth.from_settings(Settings(web_auth_token=SecretStr(TOKEN)))
    assert auth.enabled and auth.challenge == 'Bearer realm="streamdrift"'
    assert auth.allows(f"Bearer {TOKEN}") and auth.allows(f"bearer  {TOKEN} ")
    for header in (None, "", "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Token {TOKEN}",
                   _basic("x", TOKEN), "Bearer \udc80", "Bearer é"):
        assert not auth.allows(header), header


def test_basic_auth() -> None:
    auth = WebAuth.from_settings(Settings(web_auth_user="ops", web_auth_password=SecretStr("pä:ss")))
    assert auth.challenge == 'Basic realm="streamdrift", charset="UTF-8"'
    assert auth.allows(_basic("ops", "pä:ss"))  # the password may hold a colon: the user name ends at the first
    for header in (None, _basic("ops", "pä:s"), _basic("op", "pä:ss"), "Basic !!!",
                   "Basic " + base64.b64encode(b"ops").decode(), "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
                   "Basic é", "Bearer pä:ss"):
        assert not auth.allows(header), header


def test_token_and_basic_together_accept_either() -> None:
    auth = WebAuth(TOKEN, "ops", "pw")
    assert auth.allows(f"Bearer {TOKEN}") and auth.allows(_basic("ops", "pw"))
    assert not auth.allows(_basic("ops", TOKEN))
    assert auth.challenge == 'Bearer realm="streamdrift", Basic realm="streamdrift", charset="UTF-8"'
    with pytest.raises(ValueError):
        WebAuth(None, "ops", None)


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True),
                                                ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                                ("::", False), ("10.1.2.3", False), ("worker.local", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_warning_only_for_an_open_status_api_beyond_loopback() -> None:
    assert exposure_warning(Settings()) is None
    assert exposure_warning(Settings(web_host="0.0.0.0", web_auth_token=SecretStr(TOKEN))) is None
    assert exposure_warning(Settings(web_host="0.0.0.0", web_port=0)) is None
    warning = exposure_warning(Settings(web_host="0.0.0.0", web_port=8123))
    assert warning is not None and "0.0.0.0:8123 without authentication" in warning
