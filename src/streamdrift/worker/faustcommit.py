"""Commits of the control plane's faust transactions that hold whole events: what a crash can leave behind.

faust (``processing_guarantee="exactly_once"``) commits each partials partition in its own transaction: the
partition's offsets, the changelog writes of the windows table and what the agent sent with that partition's
transactional id (:meth:`.ControlPlane._send`: released windows to the profiles topic, events to alerts). Left to
itself it does so from a timer task that runs *beside* the agent, which gives three ways to commit a transaction
that a kill -9 then turns into a wrong window:

* faust picks the offsets, then commits them while the agent goes on processing at every ``await`` between:
  a window released meanwhile goes out with the transaction (its profile and events are sent directly) while
  its table writes wait in faust's producer buffer for the next one. After a kill the table has not seen the
  window's deltas, the offsets point before them, and the replay merges the window afresh: a second copy with
  other bytes (its ``first_seen_ms``), or one without a delta whose close marker did reach the table;
* table writes are buffered (``send_soon``) and sent by a background task one at a time: a buffer whose size is
  0 may still hold the last write in flight, committed a transaction later than the offsets that cover it;
* (the first fix of this kind) faust never drains that buffer before it commits.

:class:`CommitGuard` closes all three, stalling the agent only while a commit picks its offsets:

* the agent processes each event under :attr:`CommitGuard.lock`; a commit takes the lock, so faust picks the
  offsets between two events (every event before acknowledged, none half done);
* still under the lock, the commit puts a *gate* into faust's producer buffer (the queue of table writes,
  sent one at a time in order) and waits until the buffer's task reaches it: every write of the events its
  offsets cover is then in the transactions. It releases the lock (the agent goes on) while the gate holds
  every later write in the buffer until the transactions are committed;
* what the agent sends itself (a released window to the profiles topic, its events to alerts, in the
  transaction of the partials partition that released it: :meth:`CommitGuard.send`) goes through the same
  buffer, after the table writes of its event and behind a closed gate.

A committed transaction therefore holds the effects of exactly the events its offsets cover.

This reaches into faust's consumer (``force_commit``), its transaction manager (``commit``) and its producer
buffer (``pending``, ``_send_pending``'s ``fut.message.channel.publish_message``); a faust upgrade must recheck
them (tests/integration/test_window_history.py kills the control plane mid-stream and fails on a window written
twice or short of a delta).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from faust.exceptions import ProducerSendError

log = logging.getLogger(__name__)
GATE_TIMEOUT_S = 60.0


class _Gate:
    """Stands in faust's producer buffer for a message: the buffer's task "publishes" it (``fut.message.channel.
    publish_message(fut)``) once every message put before it was handed to the producer, which sets
    :attr:`reached`, and then waits for :attr:`opened`, holding back every message put after it."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()
        self.message = self
        self.channel = self

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        self.reached.set()
        await self.opened.wait()


class _Send:
    """A record the agent sends into a partition's transaction, queued in faust's producer buffer behind the
    table writes of its event (and any closed gate); :attr:`done` when handed to the producer."""

    def __init__(self, producer: Any, args: tuple[Any, ...], transactional_id: str) -> None:
        self.producer, self.args, self.transactional_id = producer, args, transactional_id
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.message = self
        self.channel = self

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        try:  # the buffer's task must not die of it: the agent gets the error
            await self.producer.send(*self.args, transactional_id=self.transactional_id)
        except Exception as exc:  # handed over whole to the agent
            if not self.done.done():
                self.done.set_exception(exc)
        else:
            if not self.done.done():
                self.done.set_result(None)


class CommitGuard:
    """Installs itself on a faust app running exactly once (see the module docs). ``committed(partitions, now)``
    is called after each commit with the partials partitions it committed; ``topic``: the partials topic."""

    def __init__(self, app: Any, topic: str, committed: Callable[[Iterable[int], float], None]) -> None:
        self.app = app
        self.topic = topic
        self.committed = committed
        self.lock = asyncio.Lock()
        self.installed = False
        self._held = False  # a commit holds the lock (released once its gate is closed)

    def install(self) -> None:
        """Wrap the consumer's commit and the transaction manager's (once; call from the agent, when they exist)."""
        if self.installed:
            return
        consumer, manager = self.app.consumer, self.app.consumer.transactions
        force_commit, commit = consumer.force_commit, manager.commit

        async def whole_events(topics: Any = None, start_new_transaction: bool = True) -> bool:
            await self.lock.acquire()  # between two events: faust picks the offsets of every event processed
            self._held = True
            try:
                return bool(await force_commit(topics, start_new_transaction=start_new_transaction))
            finally:
                self._let_go()

        async def gated(offsets: Mapping[Any, int], start_new_transaction: bool = True) -> bool:
            gate = await self.close_gate()
            self._let_go()  # the agent goes on; what it writes waits behind the gate
            try:
                if not start_new_transaction:  # faust's last commit, at stop
                    offsets = self.in_transaction(offsets)
                done = bool(await commit(offsets, start_new_transaction=start_new_transaction))
            finally:
                gate.opened.set()
            if done:
                self.committed((tp.partition for tp in offsets if tp.topic == self.topic), time.time())
            return done

        consumer.force_commit = whole_events
        manager.commit = gated
        self.installed = True

    def _let_go(self) -> None:
        if self._held:
            self._held = False
            self.lock.release()

    async def close_gate(self, timeout: float = GATE_TIMEOUT_S) -> _Gate:
        """A gate put behind every buffered table write, once they were all handed to the producer (into the
        open transactions); a warning when the buffer did not get there within ``timeout`` seconds (the commit
        then goes on without them, as faust's own would)."""
        buffer = self.app.producer.buffer
        gate = _Gate()
        buffer.put(gate)
        try:
            await asyncio.wait_for(gate.reached.wait(), timeout)
        except TimeoutError:
            log.warning("table writes still buffered after %.0f s at a commit (%d waiting)", timeout, buffer.size)
        return gate

    async def send(self, topic: str, key: bytes, value: bytes, partition: int | None, timestamp: float | None,
                   transactional_id: str) -> None:
        """``value`` to ``topic`` in the transaction ``transactional_id``, after every table write buffered so far
        (in order: a transaction that holds it holds them); returns once handed to the producer. Raises faust's
        ProducerSendError when that transaction has no producer."""
        if not self.installed:
            raise ProducerSendError("the commit guard is not installed (no transactions)")
        item = _Send(self.app.consumer.transactions.producer, (topic, key, value, partition, timestamp, None),
                     transactional_id)
        self.app.producer.buffer.put(item)
        await item.done

    def transactional_id(self, topic: str, partition: int) -> str:
        """The transactional id faust's TransactionManager gives the transaction of ``topic``'s ``partition``."""
        return f"{self.app.conf.id}-{self.app.assignor.group_for_topic(topic)}-{partition}"

    def in_transaction(self, offsets: Mapping[Any, int]) -> dict[Any, int]:
        """The offsets whose partition's transaction is open. faust's last commit at stop sends each partition's
        offsets to its transaction and ends it; a partition whose transaction is not open (ended by an earlier
        commit, a tick read since) made aiokafka raise IllegalOperation there, which left faust's consumer running
        and the process hanging until the supervisor killed it 30 s later. Nothing was written for such offsets:
        they are read again after a restart, as after a crash. (Reads aiokafka's private transaction state:
        faust gives no public view of it; an unknown producer is kept, which is faust's own behaviour.)"""
        producers = getattr(self.app.consumer.transactions.producer, "_transaction_producers", {})
        keep: dict[Any, int] = {}
        for tp, offset in offsets.items():
            producer = producers.get(self.transactional_id(tp.topic, tp.partition))
            if producer is None or producer._txn_manager.is_in_transaction():  # unknown: faust warns and skips it
                keep[tp] = offset
            else:
                log.info("stopping: %s[%d] offset %d not committed: its transaction is not open", tp.topic,
                         tp.partition, offset)
        return keep
