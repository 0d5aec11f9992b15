"""Optional authentication of the control plane's ``/status``, ``/status/{model}`` and ``/report/{model}``.

Settings ``web_auth_token`` (``Authorization: Bearer <token>``) and/or ``web_auth_user`` + ``web_auth_password``
(``Authorization: Basic ...``); with neither, the endpoints are open (to whoever reaches ``web_host``, loopback by
default). ``/metrics`` and ``/health`` never ask (Prometheus and liveness probes; see docs/security.md).

Credentials are compared in constant time: the SHA-256 digests of the given and the expected value with
:func:`hmac.compare_digest` (so neither the content nor the length of the secret shows in the timing), and the
user and password of basic auth are both compared, whatever the first comparison gave.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from typing import Final

from streamdrift.settings import Settings

REALM: Final[str] = "streamdrift"


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class WebAuth:
    """Checks an ``Authorization`` header against the configured token and/or basic credentials."""

    def __init__(self, token: str | None = None, user: str | None = None, password: str | None = None) -> None:
        if (user is None) != (password is None):
            raise ValueError("basic auth needs both a user and a password")
        self._token = None if token is None else _digest(token.encode())
        self._user = None if user is None else _digest(user.encode())
        self._password = None if password is None else _digest(password.encode())

    @classmethod
    def from_settings(cls, settings: Settings) -> WebAuth:
        return cls(
            None if settings.web_auth_token is None else settings.web_auth_token.get_secret_value(),
            settings.web_auth_user,
            None if settings.web_auth_password is None else settings.web_auth_password.get_secret_value(),
        )

    @property
    def enabled(self) -> bool:
        return self._token is not None or self._user is not None

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401: the schemes accepted."""
        schemes = []
        if self._token is not None:
            schemes.append(f'Bearer realm="{REALM}"')
        if self._user is not None:
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        return ", ".join(schemes)

    def allows(self, authorization: str | None) -> bool:
        """Whether a request with this ``Authorization`` header may see the protected endpoints."""
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        scheme = scheme.lower()
        if scheme == "bearer" and self._token is not None:
            return hmac.compare_digest(_digest(credentials.encode("utf-8", "surrogatepass")), self._token)
        if scheme == "basic" and self._user is not None and self._password is not None:
            try:
                decoded = base64.b64decode(credentials.encode("ascii"), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeError):
                return False
            user, sep, password = decoded.partition(":")
            user_ok = hmac.compare_digest(_digest(user.encode("utf-8", "surrogatepass")), self._user)
            password_ok = hmac.compare_digest(_digest(password.encode("utf-8", "surrogatepass")), self._password)
            return bool(sep) and user_ok and password_ok
        return False


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a server reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(settings: Settings) -> str | None:
    """A warning to log at start-up when the web server listens beyond loopback with its status API open."""
    if settings.web_port == 0 or is_loopback(settings.web_host) or settings.web_auth_enabled:
        return None
    return (f"web server on {settings.web_host}:{settings.web_port} without authentication: /status and /report "
            "are open to anyone who can reach that address (set web_auth_token or web_auth_user/password, or "
            "web_host=127.0.0.1; see docs/security.md)")
