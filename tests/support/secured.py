"""Helpers of the secured-broker tests: the SCRAM users of the session's secured broker, settings that log in as one
of them, and ACLs granted over the broker's PLAINTEXT listener (whose principal, ANONYMOUS, is a super user)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any, Final

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from pydantic import SecretStr

from streamdrift.dev.localkafka import LocalKafka
from streamdrift.settings import Settings

SCRAM_USERS: Final[dict[str, str]] = {
    "admin": secrets.token_hex(12),  # super user
    "streamdrift": secrets.token_hex(12),  # the worker: prefixed ACLs on its run's topics, groups, transactions
    "restricted": secrets.token_hex(12),  # the worker without one ACL it needs
}


def secured_settings(broker: LocalKafka, user: str, base: Settings, *, password: str | None = None) -> Settings:
    """``base`` (e.g. :func:`harness.unique_settings` (tests/support/harness.py)) over the SASL_SSL listener as ``user``."""
    listener = broker.sasl_ssl
    assert listener is not None, "the broker has no SASL_SSL listener"
    secret = SCRAM_USERS[user] if password is None else password
    return base.model_copy(update={"bootstrap_servers": listener.bootstrap, "kafka": listener.kafka_options(user),
                                   "sasl_password": SecretStr(secret)})


def grant_prefix(broker: LocalKafka, user: str, prefix: str, *,
                 topic_ops: Iterable[AclOperation] = (AclOperation.ALL,)) -> None:
    """ACLs for ``user`` on every topic, group and transactional id starting with ``prefix``."""
    bindings = [_binding(ResourceType.TOPIC, prefix, user, op) for op in topic_ops]
    bindings += [_binding(ResourceType.GROUP, prefix, user, AclOperation.ALL),
                 _binding(ResourceType.TRANSACTIONAL_ID, prefix, user, AclOperation.ALL)]
    _create(broker, bindings)


def grant_topic(broker: LocalKafka, user: str, topic: str, ops: Iterable[AclOperation]) -> None:
    _create(broker, [_binding(ResourceType.TOPIC, topic, user, op, ResourcePatternType.LITERAL) for op in ops])


def _binding(kind: ResourceType, name: str, user: str, op: AclOperation,
             pattern: ResourcePatternType = ResourcePatternType.PREFIXED) -> AclBinding:
    return AclBinding(kind, name, pattern, f"User:{user}", "*", op, AclPermissionType.ALLOW)


def _create(broker: LocalKafka, bindings: list[AclBinding]) -> None:
    admin = _admin(broker)
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
    time.sleep(0.5)  # the authorizer applies new ACLs from the metadata log a moment later


def _admin(broker: LocalKafka) -> Any:
    return AdminClient({"bootstrap.servers": broker.bootstrap})
