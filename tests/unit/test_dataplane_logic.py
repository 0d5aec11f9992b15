"""Pure parts of the data plane: watermark in offset metadata, dead-letter headers, client configs."""

from __future__ import annotations

import pytest

from streamdrift.settings import Settings
from streamdrift.worker.deadletter import (
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    DeadLetterRecord,
    read_headers,
)
from streamdrift.worker.offsets import decode_watermark, encode_watermark


@pytest.mark.parametrize("wm", [None, 0, 1_718_000_000_000, -5])
def test_watermark_round_trip(wm: int | None) -> None:
    assert decode_watermark(encode_watermark(wm)) == wm


@pytest.mark.parametrize("metadata", [None, "", "garbage", "[1]", '{"v": 99, "wm": 5}', '{"v": 1, "wm": true}',
                                      '{"v": 1, "wm": "5"}'])
def test_unreadable_metadata_means_no_watermark(metadata: str | None) -> None:
    assert decode_watermark(metadata) is None


def test_metadata_fits_kafka_default_limit() -> None:
    assert len(encode_watermark(2**62)) < 4096  # offset.metadata.max.bytes default


def test_dead_letter_headers_round_trip() -> None:
    record = DeadLetterRecord(b"k", b"{bad", "not_json", "x" * 5000, "cap", 3, 42)
    headers = read_headers(record.headers())
    assert headers[HEADER_REASON] == "not_json"
    assert headers[HEADER_PARTITION] == "3"
    assert headers[HEADER_OFFSET] == "42"
    assert all(len(v) <= 1000 for v in headers.values())


def test_client_configs() -> None:
    from streamdrift.worker.dataplane import consumer_config, producer_config, transactional_id

    named = Settings(group_id="g", instance_id="a", commit_interval=4.0)
    assert transactional_id("g", "a") == transactional_id("g", "a") == "g-dataplane-a"
    assert transactional_id("g", None) != transactional_id("g", None)
    consumer = consumer_config(named)
    assert consumer["isolation.level"] == "read_committed"
    assert consumer["enable.auto.commit"] is False
    assert consumer["group.instance.id"] == "a"
    assert "group.instance.id" not in consumer_config(Settings(group_id="g"))
    producer = producer_config(named)
    assert producer["transactional.id"] == "g-dataplane-a"
    assert producer["transaction.timeout.ms"] == 20_000  # 5 commit intervals, at least 10 s
