"""``bounded``: a transactional call that hangs past its own timeout (librdkafka#5456) is given up as fatal."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError as CKafkaError
from confluent_kafka import KafkaException

from streamdrift.errors import KafkaError
from streamdrift.worker.transaction import bounded


def test_a_call_that_returns_in_time_gives_its_value() -> None:
    assert bounded(lambda: 42, 5.0, "call") == 42


def test_a_call_that_hangs_is_given_up_as_fatal_after_the_limit() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(KafkaError, match=r"did not return within 0\.3 s") as caught:
        bounded(lambda: release.wait(30), 0.3, "send_offsets_to_transaction")
    assert caught.value.fatal  # the data plane rebuilds its clients
    assert time.monotonic() - started < 10
    release.set()


def test_a_kafka_error_of_the_call_reaches_the_caller_unchanged() -> None:
    def fails() -> None:
        raise KafkaException(CKafkaError(CKafkaError._TIMED_OUT, "coordinator gone"))

    with pytest.raises(KafkaException) as caught:
        bounded(fails, 5.0, "call")
    assert caught.value.args[0].code() == CKafkaError._TIMED_OUT
