"""librdkafka configurations of the data plane's clients."""

from __future__ import annotations

import os
import uuid

from streamdrift.settings import Settings


def transactional_id(group_id: str, instance_id: str | None) -> str:
    """Fixed for a named instance (a restart fences the crashed predecessor and aborts its open transaction at
    once); otherwise unique per process (KIP-447 fences zombies by group generation; an orphaned transaction is
    aborted by the broker after ``transaction.timeout.ms``)."""
    if instance_id:
        return f"{group_id}-dataplane-{instance_id}"
    return f"{group_id}-dataplane-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def consumer_config(settings: Settings) -> dict[str, str | int | float | bool]:
    extra: dict[str, str | int | float | bool] = {
        "group.id": settings.group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,  # caught-up partitions are told apart from backlogged ones (idleness)
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "partition.assignment.strategy": "cooperative-sticky",
        # librdkafka prefetches up to 64 MB per consumer by default; that counts towards the worker's RSS and
        # buys no throughput here (one consume() call takes batch_size messages at a time) -- as long as a full
        # queue pauses fetching for a moment only: the default pause (fetch.queue.backoff.ms) is 1 s, which cut
        # a consumer with an 8-16 MB queue to ~80k messages/s; with 10 ms it reads ~500k/s (both measured)
        "queued.max.messages.kbytes": 8 << 10,
        "fetch.queue.backoff.ms": 10,
    }
    if settings.instance_id:
        extra["group.instance.id"] = settings.instance_id
    return settings.client_config(extra)


def producer_config(settings: Settings) -> dict[str, str | int | float | bool]:
    txn_timeout_ms = max(10_000, round(settings.commit_interval * 5000))
    return settings.client_config(
        {
            "transactional.id": transactional_id(settings.group_id, settings.instance_id),
            "linger.ms": 20,
            "compression.type": "none",  # aiokafka (faust) cannot read lz4 without the lz4 package
            "message.max.bytes": 8 << 20,
            # a record batch is what the broker measures against a topic's max.message.bytes: a batch of several
            # partials must not exceed what one partial may be
            "batch.size": settings.limits.max_partial_bytes,
            "transaction.timeout.ms": txn_timeout_ms,
        }
    )
