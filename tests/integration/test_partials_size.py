"""A partials topic that takes smaller messages than ``limits.max_partial_bytes``: the broker refuses a part
(MSG_SIZE_TOO_LARGE), the data plane aborts, splits smaller and goes on; no replay loop, every record counted."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from harness import create_all_topics, produce, read_topic, unique_settings, worker_process
from hostile import record

from streamdrift.settings import LabelSettings, WindowSettings
from streamdrift.window.merger import WindowMerger
from streamdrift.window.partials import decode_partial
from streamdrift.worker.controlplane import TICK_KEY

pytestmark = pytest.mark.integration

SIZE_MS = 10_000
TOPIC_LIMIT = 256 << 10  # the partials topic's max.message.bytes; limits.max_partial_bytes stays 1 MiB


def test_a_refused_partial_is_split_smaller(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = unique_settings(kafka_bootstrap, capture_partitions=1, labels=LabelSettings(enabled=False),
                               window=WindowSettings(size=SIZE_MS / 1000, lateness=1.0, idle_timeout=2.0),
                               commit_interval=0.5)
    create_all_topics(settings)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource("TOPIC", settings.topics.partials, set_config={"max.message.bytes": str(TOPIC_LIMIT)})
    for future in admin.alter_configs([resource]).values():
        future.result(30)
    t0 = (int(time.time() * 1000) // SIZE_MS - 5) * SIZE_MS
    rows = 300
    produce(settings, settings.topics.capture,
            [record("wide", t0 + i, {f"f{j}": float(i + j) for j in range(400)}) for i in range(rows)], key=b"k")
    with worker_process(settings, log_path=tmp_path / "worker.log"):
        deadline = time.monotonic() + 180
        merged: Counter[str] = Counter()
        while time.monotonic() < deadline and merged["wide"] < rows:
            merged.clear()
            mergers: dict[int, WindowMerger] = {}
            for message in read_topic(settings, settings.topics.partials, until=time.monotonic() + 30, to_end=True):
                if message.key() == TICK_KEY:
                    continue
                assert len(message.value() or b"") <= TOPIC_LIMIT
                merger = mergers.setdefault(message.partition() or 0, WindowMerger({}, 1, 10**12, lambda: 0))
                for window in merger.handle(decode_partial(message.value() or b"")):
                    assert not window.partial
                    merged[window.model_id] += window.n_records
            if merged["wide"] < rows:
                time.sleep(0.5)  # what is committed so far does not complete the window yet: read again
    assert merged["wide"] == rows
    log = (tmp_path / "worker.log").read_text()
    print(log)
    assert "refused a" in log and "MSG_SIZE_TOO_LARGE" in log and log.count("going on with") <= 3  # learned it
