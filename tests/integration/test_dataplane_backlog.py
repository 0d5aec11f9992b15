"""The data plane knows it is behind the log end even when a poll holds less than a batch (big messages fill
the capped prefetch queue first): due windows then ride the regular commits instead of one transaction each."""

from __future__ import annotations

import time

import numpy as np
import pytest
from confluent_kafka import Message
from harness import capture_records, create_all_topics, produce, unique_settings

from streamdrift.worker.dataplane import DataPlane
from streamdrift.worker.polls import behind, by_partition

pytestmark = pytest.mark.integration

N = 300


def _poll(dp: DataPlane, n: int, timeout_s: float = 60.0) -> list[Message]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = dp._consumer.consume(n, 0.5)
        if messages:
            return messages
    raise AssertionError("no message within the timeout")


def test_a_short_poll_with_more_records_in_the_log_is_a_backlog(kafka_bootstrap: str) -> None:
    settings = unique_settings(kafka_bootstrap, capture_partitions=1, batch_size=1000)
    create_all_topics(settings)
    rng = np.random.default_rng(5)
    produce(settings, settings.topics.capture, capture_records("m1", [int(time.time() * 1000)] * N, rng))
    dp = DataPlane(settings)
    dp.start()
    try:
        first = _poll(dp, 10)
        assert len(first) < settings.batch_size
        assert behind(dp._consumer, settings.topics.capture, len(first), by_partition(first, "test"), settings.batch_size)  # 10 of 300: the cached high watermark is beyond the poll
        seen = len(first)
        rest: list[Message] = []
        while seen < N:
            rest = _poll(dp, N - seen)
            seen += len(rest)
        assert seen == N
        assert not behind(dp._consumer, settings.topics.capture, len(rest), by_partition(rest, "test"),
                          settings.batch_size)  # caught up with the log end
    finally:
        dp.close()
