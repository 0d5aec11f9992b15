"""The control plane: a faust-streaming app that merges ``partials`` and publishes drift events.

* agent on ``partials`` (faust ``processing_guarantee="exactly_once"``, so its consumer is read_committed and
  never sees deltas of aborted data-plane transactions); one :class:`WindowMerger` per partials partition,
  its state in the ``windows`` table (changelogged: a restarted control plane recovers it), and there too the
  alert hysteresis of the partition's models (partials are keyed by model id), so a restart neither raises an
  alert twice nor leaves one uncleared;
* ``baselines``: followed live from the compacted ``baselines`` topic (key model id, value baseline JSON) by
  :class:`BaselineWatcher`, so ``streamdrift baseline publish`` takes effect from the next window on;
* a timer sends a tick to every partials partition so merge timeouts fire inside the agent's stream
  (table writes must happen in the partition's stream context);
* web: ``/metrics`` (private CollectorRegistry), ``/health``, ``/status``, ``/status/{model}``, ``/report/{model}``
  (the last three behind ``web_auth_*`` when set, see :mod:`streamdrift.worker.webauth`); faust's own
  ``/table``, ``/router`` and statistics endpoints are off.
"""

from __future__ import annotations

import importlib
import logging
import ssl
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping
from collections.abc import Set as AbstractSet
from typing import Any

import faust
from confluent_kafka import Producer
from faust.exceptions import PartitionsMismatch, ProducerSendError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streamdrift.errors import ConfigError, SerializationError
from streamdrift.events.events import Hysteresis
from streamdrift.events.judge import WindowJudge
from streamdrift.metrics import Metrics
from streamdrift.monitors.reference import ReferenceWindows
from streamdrift.report.html import render_report
from streamdrift.settings import Settings
from streamdrift.window.merger import ReadyWindow, WindowMerger
from streamdrift.window.partials import PartialDelta, decode_partial
from streamdrift.window.rollupwindows import RollupWindows
from streamdrift.window.stored import encode_stored, profiles_partition, stored_key
from streamdrift.worker.baselines import BaselineWatcher
from streamdrift.worker.faustcommit import CommitGuard
from streamdrift.worker.health import DataPlaneProbe
from streamdrift.worker.progress import CommitClock
from streamdrift.worker.record import WindowRecorder
from streamdrift.worker.references import rebuild_references
from streamdrift.worker.setup import BaselineCache
from streamdrift.worker.sources import capture_layout
from streamdrift.worker.status import StatusStore
from streamdrift.worker.topics import partition_count
from streamdrift.worker.webauth import WebAuth, exposure_warning

log = logging.getLogger(__name__)
TICK_KEY = b"__streamdrift_tick__"


def tls_context(kafka: Mapping[str, str]) -> ssl.SSLContext:
    """An SSLContext from librdkafka's ``ssl.*`` options (CA file, client certificate and key, hostname check)."""
    try:
        context = ssl.create_default_context(cafile=kafka.get("ssl.ca.location"))
        if kafka.get("ssl.certificate.location") and kafka.get("ssl.key.location"):
            context.load_cert_chain(kafka["ssl.certificate.location"], kafka["ssl.key.location"],
                                    password=kafka.get("ssl.key.password"))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"the control plane's TLS settings (ssl.*) cannot be used: {exc}") from exc
    if str(kafka.get("ssl.endpoint.identification.algorithm", "https")).lower() == "none":
        context.check_hostname = False
    return context


class PrefixView(MutableMapping[str, bytes]):
    """The keys of one partials partition inside the shared faust table."""

    def __init__(self, table: MutableMapping[bytes, bytes], prefix: str) -> None:
        self._table = table
        self._prefix = prefix.encode()

    def __getitem__(self, key: str) -> bytes:
        return self._table[self._prefix + key.encode()]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._table[self._prefix + key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self._table[self._prefix + key.encode()]

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        return (k[n:].decode() for k in list(self._table) if k.startswith(self._prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ControlPlane:
    """Builds the faust app; ``app.main()`` / ``faust.Worker(app).execute_from_commandline()`` runs it."""

    def __init__(self, settings: Settings, *, n_capture_partitions: int | None = None,
                 dataplane: DataPlaneProbe | None = None) -> None:
        """``dataplane``: the data plane this control plane runs beside (role all), reported by ``/health``."""
        self.settings = settings
        self.dataplane = dataplane
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, settings.max_features_per_model, settings.segments.max_values)
        self.status = StatusStore(label_sample_rate=settings.labels.sample_rate)
        references = settings.history.reference_config()  # rolling reference / previous window (docs/history.md)
        self.judge = WindowJudge(Hysteresis(settings.evaluation.raise_after, settings.evaluation.clear_after),
                                 ReferenceWindows(references) if references.enabled else None)
        # roll-up windows (window.rollups): one judge per size, each with its own hysteresis (docs/history.md)
        self.rollup_judges = {every: WindowJudge(Hysteresis(settings.evaluation.raise_after,
                                                            settings.evaluation.clear_after),
                                                 window_seconds=every // 1000)
                              for every in settings.window.rollup_ms}
        self.rollup_state: dict[int, RollupWindows] = {}
        self.recorder = WindowRecorder(self.judge, self.metrics, self.status,
                                       keep_windows=settings.history.report_windows)
        self.baseline_cache = BaselineCache(settings.monitor_config())
        # every partition of the capture topic and of the mapped sources (streamdrift.worker.sources)
        self.n_capture = n_capture_partitions or capture_layout(settings, lambda t: partition_count(settings, t))[1]
        self.n_partials = partition_count(settings, settings.topics.partials)
        self.n_baselines = partition_count(settings, settings.topics.baselines)
        # every judged window goes to the profiles topic (history.enabled): it must exist (`topics create`)
        self.n_profiles = partition_count(settings, settings.history.topic) if settings.history.enabled else 0
        self.mergers: dict[int, WindowMerger] = {}
        self.started_at = time.time()
        self.progress: Any = None  # a shared float (the supervisor's stall watch): the oldest partition's last commit
        self.commits = CommitClock()
        self.baselines = BaselineWatcher(settings, self.n_baselines)
        # faust wants a data directory even with in-memory tables: a private one, not "<app>-data" in the cwd
        self._datadir = tempfile.TemporaryDirectory(prefix="streamdrift-control-")
        self.app = self._build_app()
        self._tick_producer = Producer(settings.client_config({"linger.ms": 0}))
        self.guard = CommitGuard(self.app, settings.topics.partials, self.commits.committed)

    def _build_app(self) -> faust.App:
        s = self.settings
        app = faust.App(
            f"{s.group_id}-control",
            datadir=self._datadir.name,
            broker=[f"kafka://{host}" for host in s.bootstrap_servers.split(",")],
            broker_credentials=self._credentials(),
            web_port=s.web_port or 8000,  # 0 = no web server
            web_bind=s.web_host,
            web_host=s.web_host,
            topic_partitions=self.n_partials,
            # the windows table's changelog and faust's leader topic: replicated like ours (with replication 1 a
            # broker's loss on a cluster stalls the merge until it is back)
            topic_replication_factor=s.topics.replication_factor,
            store="memory://",
            processing_guarantee="exactly_once",
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            broker_commit_interval=0.25,
            # a merged window of a wide model is one table value (about 24 KB per numeric feature): its changelog
            # record must fit the producer's request and the restore's fetch (faust's defaults: 1 and 4 MiB)
            producer_max_request_size=s.limits.max_window_bytes,
            consumer_max_fetch_size=s.limits.max_window_bytes,
            topic_allow_declare=True,
            # a peer killed inside its transaction leaves the changelog's last stable offset behind the records a
            # standby replica already holds, until its transaction is aborted; faust's check then takes the
            # standby's (committed, read_committed) state for a corrupt store and crashes the survivor in recovery
            # (tests/integration/test_control_plane_scale.py). The state is sound: recover from it.
            recovery_consistency_check=False,
            web_enabled=s.web_port != 0,
            # faust's own endpoints: /table/... serves table *data* (our window states), /router/... the cluster's
            # topology, / and /assignment/ sensor statistics; none is ours to open (docs/security.md)
            web_tables_enabled=False,
            web_router_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
        )
        warning = exposure_warning(s)
        if warning is not None:
            log.warning("%s", warning)
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
        schema: Any = faust.Schema(**raw)
        self.partials_topic = app.topic(s.topics.partials, partitions=self.n_partials, **raw)
        self.alerts_topic = app.topic(s.topics.alerts, **raw)
        self.profiles_topic = app.topic(s.history.topic, **raw)
        # key_type / value_type too: faust picks the changelog's serializers from them, not from the schema, and
        # would read the raw blobs back as JSON on recovery (each record then fails and the state is lost)
        self.windows = app.Table("windows", partitions=self.n_partials, schema=schema, key_type=bytes,
                                 value_type=bytes,
                                 extra_topic_configs={"max.message.bytes": str(s.limits.max_window_bytes)})
        app.agent(self.partials_topic, name="merge")(self._merge_agent)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.timer(max(0.5, min(5.0, s.merge_timeout / 4)))(self._tick)
        self._add_views(app)
        return app

    def _add_views(self, app: faust.App) -> None:
        """``/metrics`` and ``/health`` open (Prometheus, probes); ``/status``, ``/status/{model}`` and
        ``/report/{model}`` behind :class:`WebAuth` when credentials are configured."""
        auth = WebAuth.from_settings(self.settings)

        def guarded(view: Any) -> Any:
            async def handler(web: Any, request: Any, **kwargs: Any) -> Any:
                if not auth.allows(request.headers.get("Authorization")):
                    return web.json({"error": "authentication required"}, status=401,
                                    headers={"WWW-Authenticate": auth.challenge})
                return await view(web, request, **kwargs)

            handler.__name__ = view.__name__  # faust names the View class after it
            return handler

        # faust turns each function into a View whose `get` it is: plain functions, not bound methods.
        async def metrics(web: Any, request: Any) -> Any:
            return web.bytes(generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

        async def health(web: Any, request: Any) -> Any:
            body: dict[str, Any] = {"status": "ok", "uptime_seconds": round(time.time() - self.started_at, 1)}
            if self.dataplane is None:
                return web.json(body)
            healthy, dataplane = self.dataplane.report()
            body.update(dataplane)
            return web.json(body, status=200 if healthy else 503)

        async def status(web: Any, request: Any) -> Any:
            windows = {p: m.open_windows() for p, m in sorted(self.mergers.items())}
            incomplete = sum(m.incomplete_deltas for m in self.mergers.values())  # split partials left out
            return web.json({**self.status.summary(), "open_windows": windows, "incomplete_deltas": incomplete,
                             "settings": self.settings.redacted()})

        async def model_status(web: Any, request: Any, model: str) -> Any:
            found = self.status.get(model)
            if found is None:
                return web.json({"error": f"unknown model {model!r}"}, status=404)
            return web.json(found)

        async def report(web: Any, request: Any, model: str) -> Any:
            found = self.recorder.last_report.get(model)
            if found is None:
                return web.json({"error": f"no evaluated window of model {model!r} yet"}, status=404)
            baseline, window = found
            html = render_report(baseline, [window], title=f"streamdrift: {model}, last evaluated window",
                                 over_time=list(self.recorder.over_time.get(model, ())))
            return web.html(html)

        app.page("/metrics")(metrics)
        app.page("/health")(health)
        app.page("/status")(guarded(status))
        app.page("/status/{model}")(guarded(model_status))
        app.page("/report/{model}")(guarded(report))

    def run(self) -> None:
        """Run the faust worker in this thread until SIGTERM/SIGINT (faust installs the handlers)."""
        self.baselines.start()
        # the statistics import scipy lazily (the data plane never needs it): load it now (while the baselines are
        # read), not inside the first window's evaluation, whose alert it would delay by about a second
        importlib.import_module("scipy.stats")
        if self.judge.references is not None:  # filled again from the profiles topic: a restart keeps them
            rebuild_references(self.settings, self.judge.references)
        # a window judged before the baselines are read would count as "no baseline" and raise nothing
        if not self.baselines.wait_caught_up(30):
            log.warning("baselines not read within 30 s: windows may be judged without their baseline")
        worker = faust.Worker(self.app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
        try:
            worker.execute_from_commandline()
        finally:
            self.baselines.stop()
            self._datadir.cleanup()

    def _credentials(self) -> Any:
        """faust's (aiokafka's) view of the librdkafka security options: SASL (PLAIN, SCRAM) with or without TLS,
        or TLS alone (``security.protocol`` SSL, client certificate optional)."""
        kafka = self.settings.kafka
        protocol = str(kafka.get("security.protocol", "PLAINTEXT")).upper()
        context = tls_context(kafka) if protocol in ("SSL", "SASL_SSL") else None
        mechanism = kafka.get("sasl.mechanism") or kafka.get("sasl.mechanisms")
        if mechanism is None or self.settings.sasl_password is None:
            return None if context is None else faust.SSLCredentials(context)
        return faust.SASLCredentials(
            username=kafka.get("sasl.username", ""),
            password=self.settings.sasl_password.get_secret_value(),
            mechanism=mechanism,
            ssl_context=context,
        )

    # -- the agent -----------------------------------------------------------------------------------
    def merger(self, partition: int) -> WindowMerger:
        merger = self.mergers.get(partition)
        if merger is None:
            merger = WindowMerger(
                PrefixView(self.windows, f"{partition}/"),
                self.n_capture,
                round(self.settings.merge_timeout * 1000),
                lambda: int(time.time() * 1000),
                keep_released=True,  # until its events are out (see _publish)
                max_features=self.settings.limits.max_features,
                reserved=self._baseline_names,
            )
            self.mergers[partition] = merger
        return merger

    def rollups(self, partition: int) -> RollupWindows:
        """The open roll-up windows of a partials partition's models, in its part of the windows table."""
        found = self.rollup_state.get(partition)
        if found is None:
            found = self.rollup_state[partition] = RollupWindows(
                PrefixView(self.windows, f"{partition}/"), self.settings.window.rollup_ms,
                max_open=self.settings.window.max_open_rollups, max_features=self.settings.limits.max_features,
                max_bytes=self.settings.limits.max_window_bytes, models=frozenset(self.settings.window.rollup_models),
                reserved=self._baseline_names)
        return found

    def _baseline_names(self, model_id: str) -> AbstractSet[str]:
        """The features of a model's baseline: a merged window keeps a place for them under the features cap."""
        baseline = self.baseline_cache.get(model_id, self.baselines.get(model_id))
        return frozenset() if baseline is None else baseline.profile.features.keys()

    async def _on_revoked(self, app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Mergers and the judge cache their partitions' table state: after a rebalance they start from the table
        again."""
        self.mergers.clear()
        self.judge.forget()
        self.commits.forget()
        self.rollup_state.clear()
        for judge in self.rollup_judges.values():
            judge.forget()

    async def _merge_agent(self, stream: faust.StreamT[bytes]) -> None:
        if self.app.in_transaction:
            self.guard.install()
        async for event in stream.events():
            try:
                async with self.guard.lock:  # a commit falls between two events (streamdrift.worker.faustcommit)
                    await self._merge(event)
            except PartitionsMismatch as exc:
                # faust read the changelog's metadata before this broker had it (a topic it just declared on a
                # cluster): it keeps 0 partitions for it, and every table write fails until the process ends, so
                # end it (the supervisor starts a new one, which reads the metadata again)
                log.error("the windows table's changelog is not usable (%s): stopping the control plane",
                          str(exc).replace("\n", " "))
                await self.app.crash(exc)
                return

    async def _merge(self, event: Any) -> None:
        """One message of the partials topic: a delta or close marker merged, or a tick; the windows it
        released published."""
        partition = event.message.partition
        merger = self.merger(partition)
        if event.key == TICK_KEY:
            ready = merger.expire()
        else:
            dropped, replayed = merger.features_dropped, merger.replayed
            try:
                message = decode_partial(event.value)
                ready = merger.handle(message)
            except SerializationError as exc:
                log.error("unreadable message on %s[%d]: %s", self.settings.topics.partials, partition, exc)
                return
            if merger.replayed > replayed and isinstance(message, PartialDelta):
                log.warning("a delta of %s@%d from capture partition %d ignored: that partition closed the "
                            "window before and it was released (a replay)", message.model_id,
                            message.window_start_ms, message.partition)
            if merger.features_dropped > dropped:
                self.metrics.features_dropped.inc(merger.features_dropped - dropped)
        for window in ready:
            await self._publish(window, partition)
        if self.rollup_judges:  # roll-up windows whose end every partition's watermark passed
            for rollup in self.rollups(partition).due(merger.low_watermark):
                await self._publish_rollup(rollup, partition)

    async def _publish(self, window: ReadyWindow, partition: int) -> None:
        """Judge a window released on a partials partition (its model's hysteresis in that partition's part of
        the table), send its events, then record the new hysteresis and drop the window from the table. It all
        happens under the commit guard's lock (:mod:`streamdrift.worker.faustcommit`): the window's profile, its
        events and the table's new state are committed together with the offsets of the message that released
        it, or not at all (a crash then replays that message against the old state)."""
        monitors = self.baseline_cache.monitors(window.model_id, self.baselines.get(window.model_id))
        state = PrefixView(self.windows, f"{partition}/")
        judged = self.judge.judge(window, monitors, state)
        self.recorder.record(judged, monitors)
        if self.n_profiles:  # the window itself, for history and re-evaluation, in the same transaction
            await self._send(partition, self.profiles_topic, stored_key(window.model_id, window.window_start_ms),
                             encode_stored(window, judged.baseline_id),
                             to_partition=profiles_partition(window.model_id, self.n_profiles),
                             timestamp=window.window_start_ms / 1000)
        for event in judged.events:
            await self._send(partition, self.alerts_topic, window.model_id.encode(), event.to_json())
        if self.rollup_judges:  # into its roll-up windows (the table, this transaction); pushed-out ones judged
            rollups = self.rollups(partition)
            late = rollups.late
            for rollup in rollups.add(window):
                await self._publish_rollup(rollup, partition)
            self.metrics.rollup_late.inc(rollups.late - late)
            self.metrics.rollup_windows_open.set(sum(r.open_windows() for r in self.rollup_state.values()))
        self.judge.remember(window.model_id, state)
        self.merger(partition).forget(window)

    async def _publish_rollup(self, rollup: ReadyWindow, partition: int) -> None:
        """Judge a released roll-up window with its size's judge (its hysteresis in the table beside the base
        windows'), send it to the profiles topic and its events to alerts like a base window, then drop it (a
        crash in between replays it from the table: the same bytes and event ids)."""
        every_ms = rollup.window_end_ms - rollup.window_start_ms
        judge = self.rollup_judges[every_ms]
        monitors = self.baseline_cache.monitors(rollup.model_id, self.baselines.get(rollup.model_id))
        state = PrefixView(self.windows, f"{partition}/rollup{every_ms}/")
        judged = judge.judge(rollup, monitors, state)
        seconds = every_ms // 1000
        if self.n_profiles:
            await self._send(partition, self.profiles_topic,
                             stored_key(rollup.model_id, rollup.window_start_ms, seconds),
                             encode_stored(rollup, judged.baseline_id, window_seconds=seconds),
                             to_partition=profiles_partition(rollup.model_id, self.n_profiles),
                             timestamp=rollup.window_start_ms / 1000)
        for event in judged.events:
            await self._send(partition, self.alerts_topic, rollup.model_id.encode(), event.to_json())
            self.metrics.alert(rollup.model_id, event.monitor, event.check, event.status)
        evaluation = judged.evaluation
        entry = {**judged.summary(), "window_seconds": seconds, "alerts_raised": judge.raised(rollup.model_id),
                 **({"drifted_features": [r.feature for r in evaluation.drifted]} if evaluation is not None else {})}
        where = f"{seconds}s" if rollup.stage == "data" else f"{seconds}s {rollup.stage}"
        self.status.model(rollup.model_id).rollups[where] = entry
        self.metrics.rollup_evaluated(rollup.model_id, seconds, partial=rollup.partial, n_records=rollup.n_records,
                                      drifted_features=0 if evaluation is None else len(evaluation.drifted),
                                      window_end_ms=rollup.window_end_ms)
        judge.remember(rollup.model_id, state)
        rollups = self.rollups(partition)
        rollups.forget(rollup)
        self.metrics.rollup_windows_open.set(sum(r.open_windows() for r in self.rollup_state.values()))

    async def _send(self, partition: int, topic: Any, key: bytes, value: bytes, *, to_partition: int | None = None,
                    timestamp: float | None = None) -> None:
        """An event to ``alerts`` (or a window to the profiles topic) in the transaction of the partials
        partition that released its window, with that partition's offsets and table changes: a crash between
        them would otherwise replay the window and send it twice. (faust's own ``topic.send`` picks the
        transaction of the *destination* partition, and sends without one to a topic its consumer does not
        read, such as alerts.) ``timestamp``: seconds."""
        if not self.app.in_transaction:
            await topic.send(key=key, value=value, partition=to_partition, timestamp=timestamp)
            return
        transactional_id = self.guard.transactional_id(self.settings.topics.partials, partition)
        try:  # behind the table writes of this event, in order (streamdrift.worker.faustcommit)
            await self.guard.send(topic.get_topic_name(), key, value, to_partition, timestamp, transactional_id)
        except ProducerSendError as exc:  # no producer for the partition (its transaction failed to begin)
            log.warning("%s sent outside the partition's transaction: %s", topic.get_topic_name(), exc)
            await topic.send(key=key, value=value, partition=to_partition, timestamp=timestamp)

    async def _tick(self) -> None:
        if self.progress is not None:  # the slowest owned partials partition (streamdrift.worker.progress)
            owned = (tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.settings.topics.partials)
            self.progress.value = self.commits.oldest(owned, time.time())
        for p in range(self.n_partials):
            self._tick_producer.produce(self.settings.topics.partials, key=TICK_KEY, value=b"", partition=p)
        self._tick_producer.poll(0)
