"""Connecting to a secured cluster: a clear error for failed authentication and for missing ACLs, before work starts.

* :func:`connect` opens an AdminClient and asks for metadata; when that fails because the broker refused the
  credentials (or the TLS handshake), the error names the listener (security protocol and bootstrap address),
  the SASL mechanism and the user -- never the password: librdkafka's own reason is kept, and it holds none.
* :func:`check_access` asks the broker which operations the worker's principal may perform on each topic its
  role needs (KIP-430 authorized operations) and fails at start naming the topic and the operation missing,
  instead of a consumer that silently sees no data or a transaction that fails at the first commit.

Used by ``streamdrift run`` (both), ``streamdrift topics create`` and ``streamdrift baseline publish``
(:func:`connect`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from streamdrift.errors import KafkaError
from streamdrift.settings import Settings
from streamdrift.worker.kafka_errors import wrap

_AUTH_CODES = frozenset({CKafkaError._AUTHENTICATION, CKafkaError.SASL_AUTHENTICATION_FAILED, CKafkaError._SSL})
_ROLES = ("all", "dataplane", "controlplane")
_ATTEMPT_S = 0.5  # connect(): how long one metadata request waits before the error callback is served


class KafkaAuthenticationError(KafkaError):
    """The broker refused this client's credentials (or the TLS handshake failed)."""


class KafkaAccessError(KafkaError):
    """The principal lacks an ACL the role needs: ``topic`` and ``operation`` name it."""

    def __init__(self, message: str, topic: str, operation: str) -> None:
        self.topic = topic
        self.operation = operation
        super().__init__(message)


def endpoint(settings: Settings) -> str:
    """``listener SASL_SSL://host:port (SASL mechanism SCRAM-SHA-512, user 'x')``: what the client connects to."""
    kafka = settings.kafka
    protocol = str(kafka.get("security.protocol", "PLAINTEXT")).upper()
    text = f"listener {protocol}://{settings.bootstrap_servers}"
    mechanism = kafka.get("sasl.mechanism") or kafka.get("sasl.mechanisms")
    if protocol.startswith("SASL"):
        user = kafka.get("sasl.username")
        who = f", user {user!r}" if user else ""
        text += f" (SASL mechanism {mechanism or 'GSSAPI'}{who})"
    return text


def connect(settings: Settings, timeout: float = 15.0) -> AdminClient:
    """An AdminClient that has fetched metadata; KafkaAuthenticationError naming listener and mechanism."""
    errors: list[CKafkaError] = []
    config: dict[str, Any] = {**settings.client_config(), "error_cb": errors.append}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout
    while True:
        # metadata in short attempts, serving the error callback between them: librdkafka retries refused
        # credentials until the timeout, so a wrong password is reported as soon as the broker refused it
        last = deadline - time.monotonic() <= _ATTEMPT_S
        try:
            admin.list_topics(timeout=max(0.05, deadline - time.monotonic()) if last else _ATTEMPT_S)
            return admin
        except KafkaException as exc:
            admin.poll(0.2 if last else 0.1)  # serves the error callback: the broker's reason, if it gave one
            refused = [e for e in errors if e.code() in _AUTH_CODES]
            if refused:
                kind = "TLS handshake" if refused[0].code() == CKafkaError._SSL else "authentication"
                raise KafkaAuthenticationError(
                    f"{kind} failed on {endpoint(settings)}: {refused[0].str()}", code=refused[0].code()
                ) from exc
            if last:
                raise wrap(exc, f"connect to {endpoint(settings)}") from exc


def needed_operations(settings: Settings, role: str) -> dict[str, set[str]]:
    """Topic -> the operations (``READ``, ``WRITE``) the role needs on it (docs/security.md, "ACLs")."""
    if role not in _ROLES:
        raise KafkaError(f"unknown role {role!r}")
    t = settings.topics
    needs: dict[str, set[str]] = {}

    def need(topic: str, *ops: str) -> None:
        needs.setdefault(topic, set()).update(ops)

    if role in ("all", "dataplane"):
        need(t.capture, "READ")
        need(t.partials, "WRITE")
        need(t.deadletter, "WRITE")
        if settings.labels.enabled:
            need(t.labels, "READ")
    if role in ("all", "controlplane"):
        need(t.partials, "READ", "WRITE")
        need(t.baselines, "READ")
        need(t.alerts, "WRITE")
    return needs


def check_access(settings: Settings, role: str, admin: AdminClient | None = None, timeout: float = 15.0) -> None:
    """KafkaAccessError naming the first topic and operation the role needs but may not perform.

    A cluster without an authorizer reports no operations: then nothing is checked here."""
    admin = admin if admin is not None else connect(settings, timeout)
    needs = needed_operations(settings, role)
    futures = admin.describe_topics(TopicCollection(sorted(needs)), include_authorized_operations=True)
    for topic, future in sorted(futures.items()):
        try:
            allowed = _names(future.result(timeout=timeout).authorized_operations)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, CKafkaError) and err.code() == CKafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise _denied(settings, role, topic, "DESCRIBE") from exc
            if isinstance(err, CKafkaError) and err.code() == CKafkaError.UNKNOWN_TOPIC_OR_PART:
                raise KafkaError(f"topic {topic} does not exist (run `streamdrift topics create`)") from exc
            raise wrap(exc, f"describe topic {topic} on {endpoint(settings)}") from exc
        if allowed is None or "ALL" in allowed:
            continue
        for op in sorted(needs[topic]):
            if op not in allowed:
                raise _denied(settings, role, topic, op)


def _names(ops: Iterable[Any] | None) -> set[str] | None:
    return None if ops is None else {op.name for op in ops}


def _denied(settings: Settings, role: str, topic: str, op: str) -> KafkaAccessError:
    principal = settings.kafka.get("sasl.username")
    who = f"User:{principal}" if principal else "this client's principal"
    return KafkaAccessError(
        f"not authorized: {who} may not {op} topic {topic!r}, which role {role} needs ({endpoint(settings)}); "
        f"grant it, e.g. kafka-acls --add --allow-principal {who} --operation {op.title()} --topic {topic}",
        topic,
        op,
    )
