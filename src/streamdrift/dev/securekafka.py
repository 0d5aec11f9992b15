"""The local broker's secured listener: SASL_SSL with SCRAM-SHA-512 beside PLAINTEXT, and KRaft's StandardAuthorizer.

Used by :class:`streamdrift.dev.localkafka.LocalKafka` (``secured=True`` or ``sasl_ssl_port=...``) and mirrored by
``deploy/kafka/kafka.sh start --sasl-ssl-port P``. At start:

* a CA and a broker certificate (SAN ``IP:127.0.0.1``, ``DNS:localhost``) are generated with ``openssl`` in
  ``<data_dir>/tls`` (kept across restarts of the same data dir); clients trust ``<data_dir>/tls/ca.pem``;
* SCRAM users are created by Kafka's own ``kafka-storage format --add-scram`` when the storage is formatted;
  ``admin`` is a super user, like ``ANONYMOUS`` (the PLAINTEXT and controller listeners), so tests create topics,
  users and ACLs over PLAINTEXT; any other SCRAM user may do only what ACLs allow.

Local development and tests only: the keystore password is random per data dir and stored beside the keystore.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streamdrift.errors import BrokerError

MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "admin"
SUPER_USERS = ("User:ANONYMOUS", f"User:{ADMIN_USER}")
TEMPLATE_NAME = "server.sasl_ssl.properties.template"
_CERT_DAYS = "30"


@dataclass(frozen=True)
class SaslSslListener:
    """Where the secured listener is and who may log in (``users``: name -> password)."""

    port: int
    tls_dir: Path
    users: Mapping[str, str] = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.tls_dir / "ca.pem"

    def kafka_options(self, user: str) -> dict[str, str]:
        """librdkafka options (no password: give it as ``sasl_password`` / ``sasl.password``) for ``user``."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "ssl.ca.location": str(self.ca_path),
        }

    def client_config(self, user: str = ADMIN_USER, password: str | None = None) -> dict[str, str]:
        """A complete confluent-kafka configuration for ``user`` (its own password unless ``password``)."""
        if password is None and user not in self.users:
            raise BrokerError(f"no SCRAM user {user!r} on the local broker")
        secret = self.users[user] if password is None else password
        return {"bootstrap.servers": self.bootstrap, **self.kafka_options(user), "sasl.password": secret}


def default_users() -> dict[str, str]:
    """``admin`` (a super user) and ``streamdrift`` (ACLs only), with random passwords."""
    return {ADMIN_USER: secrets.token_hex(16), "streamdrift": secrets.token_hex(16)}


def scram_format_args(users: Mapping[str, str]) -> list[str]:
    """``kafka-storage format`` arguments creating the SCRAM-SHA-512 credentials of ``users``."""
    args: list[str] = []
    for name, password in sorted(users.items()):
        if not name or any(c in name + password for c in ",=[]\"'"):
            raise BrokerError(f"SCRAM user {name!r}: name and password must not contain , = [ ] or quotes")
        args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
    return args


def render_sasl_ssl_properties(
    template: str, port: int, sasl_ssl_port: int, controller_port: int, tls_dir: Path, keystore_password: str
) -> str:
    """Fill ``server.sasl_ssl.properties.template`` (the same placeholders kafka.sh replaces)."""
    return (
        template.replace("@PORT@", str(port))
        .replace("@SASL_SSL_PORT@", str(sasl_ssl_port))
        .replace("@CONTROLLER_PORT@", str(controller_port))
        .replace("@TLS_DIR@", str(tls_dir))
        .replace("@KEYSTORE_PASSWORD@", keystore_password)
        .replace("@SUPER_USERS@", ";".join(SUPER_USERS))
    )


def ensure_tls(tls_dir: Path, openssl: str = "openssl") -> str:
    """CA + broker certificate + PKCS#12 keystore in ``tls_dir`` (made once); returns the keystore password."""
    password_file = tls_dir / "keystore.password"
    if (tls_dir / "broker.p12").is_file() and password_file.is_file() and (tls_dir / "ca.pem").is_file():
        return password_file.read_text(encoding="ascii").strip()
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_hex(16)
    password_file.write_text(password + "\n", encoding="ascii")
    password_file.chmod(0o600)
    d = str(tls_dir)
    steps = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem",
         "-days", _CERT_DAYS, "-subj", "/CN=streamdrift local test CA"],
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/broker.key", "-out", f"{d}/broker.csr",
         "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", f"{d}/broker.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
         "-CAcreateserial", "-out", f"{d}/broker.pem", "-days", _CERT_DAYS,
         "-extfile", f"{d}/san.ext"],
        [openssl, "pkcs12", "-export", "-in", f"{d}/broker.pem", "-inkey", f"{d}/broker.key", "-certfile",
         f"{d}/ca.pem", "-name", "broker", "-out", f"{d}/broker.p12", "-passout", f"file:{password_file}"],
    ]  # fmt: skip
    (tls_dir / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="ascii")
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise BrokerError(f"openssl ({openssl!r}) is needed for the SASL_SSL listener") from exc
        if done.returncode != 0:
            raise BrokerError(f"generating the local TLS certificates failed ({cmd[1]}): {done.stderr.strip()}")
    return password


def listener(port: int, data_dir: Path, users: Mapping[str, str] | None = None) -> SaslSslListener:
    """The listener of a broker in ``data_dir``: ``users`` (default :func:`default_users`), ``admin`` always."""
    chosen = dict(users) if users is not None else default_users()
    chosen.setdefault(ADMIN_USER, secrets.token_hex(16))
    return SaslSslListener(port, data_dir / "tls", chosen)


def properties(template: str, secured: SaslSslListener, port: int, controller_port: int) -> str:
    """The lines appended to the broker's ``server.properties`` (TLS material made first when missing)."""
    password = ensure_tls(secured.tls_dir)
    text = render_sasl_ssl_properties(template, port, secured.port, controller_port, secured.tls_dir, password)
    return "\n" + text
