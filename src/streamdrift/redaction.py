"""Which librdkafka option values may be shown (logs, ``/status``): an allow-list, everything else is ``***``.

A deny-list (``password|secret|...``) misses options whose value is a secret under another name
(``ssl.key.pem``, ``sasl.oauthbearer.config``, ``sasl.oauthbearer.assertion.private.key.pem``, options added by a
later librdkafka). So only the options below are shown; any other option's *value* is replaced by
:data:`REDACTED` (its name stays, so an operator sees that it is set). Each entry is a plain setting whose value
names no credential. Borderline choices (documented in docs/security.md):

* shown: ``sasl.username``, ``sasl.oauthbearer.client.id``, ``sasl.kerberos.principal`` (identities, not
  secrets: an operator needs them to tell which principal the worker runs as); the ``*.location`` options and
  ``sasl.kerberos.keytab`` (file *paths*: the file itself is protected by its permissions);
  ``sasl.oauthbearer.token.endpoint.url`` with any ``user:password@`` and query string removed;
* hidden: every ``*.pem`` value (certificates are public, but a key pasted into ``ssl.certificate.pem`` or the
  CA option is not, and a PEM blob tells an operator nothing at a glance), ``sasl.kerberos.kinit.cmd`` (a
  command line may carry a password), ``sasl.oauthbearer.extensions`` (key=value pairs, often tokens),
  ``sasl.oauthbearer.config``, every ``*.password`` / ``*.secret`` / ``*.assertion*`` option, ``plugin.library.paths``
  and ``ssl.engine.*`` (can name code to load), and every option not listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit, urlunsplit

REDACTED: Final[str] = "***"

_CONNECTION: Final[tuple[str, ...]] = (
    "bootstrap.servers", "client.id", "client.rack", "client.dns.lookup", "broker.address.family",
    "broker.address.ttl", "security.protocol", "socket.timeout.ms", "socket.keepalive.enable",
    "socket.nagle.disable", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
    "socket.connection.setup.timeout.ms", "socket.max.fails", "connections.max.idle.ms",
    "reconnect.backoff.ms", "reconnect.backoff.max.ms", "retry.backoff.ms", "retry.backoff.max.ms",
    "metadata.max.age.ms", "metadata.recovery.strategy", "metadata.recovery.rebootstrap.trigger.ms",
    "topic.metadata.refresh.interval.ms", "topic.metadata.refresh.fast.interval.ms",
    "topic.metadata.refresh.sparse", "topic.metadata.propagation.max.ms", "api.version.request",
    "api.version.request.timeout.ms", "api.version.fallback.ms", "broker.version.fallback",
    "allow.auto.create.topics", "debug", "log_level", "log.queue", "log.thread.name",
    "log.connection.close", "statistics.interval.ms", "enable.metrics.push", "client.software.name",
    "client.software.version", "internal.termination.signal", "request.timeout.ms",
)
_SECURITY: Final[tuple[str, ...]] = (
    "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.kerberos.service.name",
    "sasl.kerberos.principal", "sasl.kerberos.keytab", "sasl.kerberos.min.time.before.relogin",
    "sasl.oauthbearer.method", "sasl.oauthbearer.client.id", "sasl.oauthbearer.client.credentials.client.id",
    "sasl.oauthbearer.scope", "sasl.oauthbearer.grant.type", "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.metadata.authentication.type", "enable.sasl.oauthbearer.unsecure.jwt", "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification", "ssl.cipher.suites", "ssl.curves.list", "ssl.sigalgs.list",
    "ssl.ca.location", "ssl.ca.certificate.stores", "ssl.crl.location", "ssl.certificate.location",
    "ssl.key.location", "ssl.keystore.location", "ssl.truststore.location", "https.ca.location",
)
_CLIENT: Final[tuple[str, ...]] = (
    "acks", "request.required.acks", "enable.idempotence", "enable.gapless.guarantee", "retries",
    "message.send.max.retries", "max.in.flight.requests.per.connection", "max.in.flight", "linger.ms",
    "queue.buffering.max.ms", "queue.buffering.max.messages", "queue.buffering.max.kbytes",
    "queue.buffering.backpressure.threshold", "batch.num.messages", "batch.size", "compression.type",
    "compression.codec", "compression.level", "message.max.bytes", "message.copy.max.bytes",
    "receive.message.max.bytes", "message.timeout.ms", "delivery.timeout.ms", "transaction.timeout.ms",
    "partitioner", "sticky.partitioning.linger.ms", "group.id", "group.instance.id", "group.protocol",
    "group.protocol.type", "group.remote.assignor", "partition.assignment.strategy", "session.timeout.ms",
    "heartbeat.interval.ms", "coordinator.query.interval.ms", "max.poll.interval.ms", "enable.auto.commit",
    "auto.commit.interval.ms", "enable.auto.offset.store", "auto.offset.reset", "isolation.level",
    "enable.partition.eof", "check.crcs", "fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes",
    "fetch.error.backoff.ms", "fetch.queue.backoff.ms", "max.partition.fetch.bytes", "fetch.message.max.bytes",
    "queued.min.messages", "queued.max.messages.kbytes", "consume.callback.max.messages",
)
#: Options whose value is shown as it is.
SAFE_KAFKA_OPTIONS: Final[frozenset[str]] = frozenset(_CONNECTION + _SECURITY + _CLIENT)
#: Options whose value is a URL: shown without credentials (``user:password@``), query string and fragment.
URL_KAFKA_OPTIONS: Final[frozenset[str]] = frozenset({"sasl.oauthbearer.token.endpoint.url"})


def redact_kafka_options(options: Mapping[str, str]) -> dict[str, str]:
    """``options`` with every value not on the allow-list replaced by :data:`REDACTED`."""
    return {key: _shown(key, value) for key, value in options.items()}


def _shown(key: str, value: str) -> str:
    if key in SAFE_KAFKA_OPTIONS:
        return value
    if key in URL_KAFKA_OPTIONS:
        return strip_url_credentials(value)
    return REDACTED


def strip_url_credentials(url: str) -> str:
    """``https://user:pw@host/path?token=x`` -> ``https://host/path``; :data:`REDACTED` when it does not parse."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:  # an IPv6 literal
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
