"""One capture partition's path from capture batches to ``partials`` messages, without Kafka.

The stream worker's data plane runs one :class:`PartitionPipeline` per assigned capture partition and
publishes what :meth:`PartitionPipeline.flush` returns in its transaction; ``streamdrift check`` runs one over
a whole file and hands the same messages straight to the merge. Both therefore window, profile, join and
close exactly alike:

* :meth:`add_captures`: the data stage (every data-stage monitor of the rows' model, in the partition's
  event-time windows; see :mod:`streamdrift.window.windows`) and :meth:`join_captures`: the predictions into
  the label join (the data plane runs the two in separate threads);
* :meth:`add_labels`: ground truth into the join (the labels stage);
* :meth:`flush`: the deltas since the last flush (the data stage's profile with the other data-stage states as
  extras, id ``(capture topic, partition, end offset)``; the labels stage's states in their own deltas, id
  ``(<capture topic>#monitors@<labels offset>, partition, end offset)``), then ``WindowClosed`` markers for the
  windows the capture watermark passed and one for the labels stage when ``min(capture, labels watermark)``
  moved past window ends.

Message size. No delta :meth:`flush` returns is encoded larger than the ``partials`` topic takes
(``max_message_bytes``, Kafka's ``max.message.bytes``, less the record overhead and the key): a larger one is
split by features into parts (:mod:`streamdrift.window.parts`), which the merge puts back together. The check
encodes every delta once; :meth:`Flushed.encoded_deltas` hands those bytes out, so a caller that publishes
them encodes nothing again. Markers list at most :data:`~streamdrift.window.partials.MARKER_MAX_MODELS`
models (:func:`~streamdrift.window.partials.marker_models`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from streamdrift.columns.chunks import CaptureBatch, LabelBatch
from streamdrift.monitors.base import DATA, LABELS
from streamdrift.monitors.registry import ModelMonitors
from streamdrift.monitors.segments.monitor import NAME as SEGMENTS
from streamdrift.monitors.segments.state import split_states
from streamdrift.profile.profiles import DatasetProfile, ProfileParams
from streamdrift.window.labels import ErrorStream, PartitionLabels
from streamdrift.window.partials import PartialDelta, WindowClosed, encode_partial, marker_models
from streamdrift.window.parts import DEFAULT_MAX_MESSAGE_BYTES, split_delta, value_budget
from streamdrift.window.windows import AddResult, PartitionWindows, WindowSpec

MonitorsOf = Callable[[str], ModelMonitors]


@dataclass
class Flushed:
    """What a partition has to publish: deltas first, then the markers closing windows."""

    deltas: list[PartialDelta] = field(default_factory=list)
    markers: list[WindowClosed] = field(default_factory=list)
    closed: list[tuple[int, list[str]]] = field(default_factory=list)  # (window start, its models) closed now
    blobs: list[bytes] = field(default_factory=list)  # encode_partial(deltas[i]), when the size was checked
    oversized: list[PartialDelta] = field(default_factory=list)  # deltas over the limit that cannot be cut

    def __bool__(self) -> bool:
        return bool(self.deltas or self.markers)

    def encoded_deltas(self) -> list[tuple[PartialDelta, bytes]]:
        """Every delta with its encoding (encoded by the size check already, or now)."""
        if len(self.blobs) == len(self.deltas):
            return list(zip(self.deltas, self.blobs, strict=True))
        return [(d, encode_partial(d)) for d in self.deltas]


class PartitionPipeline:
    """Windows (data stage) and, with a join store, the labels stage of one capture partition.

    ``max_message_bytes``: the ``partials`` topic's ``max.message.bytes`` (default Kafka's 1 MiB); None: no
    size check (callers that never encode the messages, such as the batch check, may save its cost)."""

    def __init__(self, spec: WindowSpec, topic: str, partition: int, monitors_of: MonitorsOf, *,
                 watermark_ms: int | None = None, labels: PartitionLabels | None = None,
                 params: ProfileParams | None = None,
                 max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if max_message_bytes is not None:
            value_budget(max_message_bytes, None)  # ConfigError when too small
        self.max_message_bytes = max_message_bytes
        self.spec = spec
        self.topic = topic
        self.partition = partition
        self.windows = PartitionWindows(spec, watermark_ms=watermark_ms, monitors_of=monitors_of)
        self.labels = labels
        self._params = params or ProfileParams()

    # ------------------------------------------------------------ inputs

    def add_captures(self, batches: Sequence[CaptureBatch]) -> list[AddResult]:
        """The data stage of one poll's batches (see :meth:`PartitionWindows.add_many`)."""
        return self.windows.add_many(batches)

    def join_captures(self, batches: list[CaptureBatch]) -> list[ErrorStream]:
        """The batches' predictions into the label join (nothing without labels). Touches only the labels
        stage: it may run in another thread than :meth:`add_captures` of the same batches."""
        return [] if self.labels is None else self.labels.add_captures(batches)

    def add_labels(self, labels: LabelBatch) -> list[ErrorStream]:
        return [] if self.labels is None else self.labels.add_labels(labels)

    def advance_idle(self, now_ms: int) -> None:
        self.windows.advance_idle(now_ms)

    @property
    def watermark_ms(self) -> int | None:
        return self.windows.watermark_ms

    @property
    def labels_closed_before(self) -> int | None:
        return None if self.labels is None else self.labels.labels_closed_before

    def take_outcomes(self) -> Counter[tuple[str, str]]:
        return Counter() if self.labels is None else self.labels.take_outcomes()

    def any_due(self) -> bool:
        return bool(self.windows.due_windows(limit=1))

    # ------------------------------------------------------------ output

    def flush(self, end_offset: int, labels_offset: int | None = None,
              labels_watermark_ms: int | None = None) -> Flushed:
        """Everything to publish since the last flush, for input read up to ``end_offset`` (capture) and
        ``labels_offset`` (labels); ``labels_watermark_ms`` is the labels partition's watermark."""
        out = Flushed()
        if self.labels is not None:  # join entries expire against the smaller watermark (event time)
            cwm = self.windows.watermark_ms
            if labels_watermark_ms is not None and cwm is not None:
                self.labels.expire(min(labels_watermark_ms, cwm))
        deltas = [PartialDelta(
            model_id=delta.model_id, model_version=delta.model_version, window_start_ms=delta.window_start_ms,
            window_end_ms=delta.window_end_ms, source_topic=self.topic, partition=self.partition,
            end_offset=end_offset, n_records=delta.n_records, profile=delta.profile, extras=delta.extras,
            stage=DATA,
        ) for delta in self.windows.drain_deltas()]  # fmt: skip
        deltas = [part for delta in deltas for part in self._segment_deltas(delta)]
        deltas += self._labels_deltas(end_offset, labels_offset)
        self._bounded(deltas, out)
        self._close_data(out)
        self._close_labels(out, labels_watermark_ms)
        return out

    def _bounded(self, deltas: list[PartialDelta], out: Flushed) -> None:
        """``deltas`` into ``out``, each split into parts when its encoding is over the limit."""
        if self.max_message_bytes is None:
            out.deltas += deltas
            return
        for delta in deltas:
            budget = value_budget(self.max_message_bytes, delta.model_id.encode())
            for part, blob in split_delta(delta, budget):
                out.deltas.append(part)
                out.blobs.append(blob)
                if len(blob) > budget:
                    out.oversized.append(part)

    def _segment_deltas(self, delta: PartialDelta) -> list[PartialDelta]:
        """A delta whose segment states are large goes with them in deltas of their own (empty profile, no
        records, id ``(<capture>#segments<i>, partition, end offset)``, each under the message size): the split
        by features cannot cut the extras, which all travel with the first part."""
        blob = delta.extras.get(SEGMENTS)
        limit = None if self.max_message_bytes is None else self.max_message_bytes * 3 // 4
        if blob is None or limit is None or len(blob) <= limit // 2:
            return [delta]
        rest = MappingProxyType({k: v for k, v in delta.extras.items() if k != SEGMENTS})
        out = [dataclasses.replace(delta, extras=rest)]
        for i, chunk in enumerate(split_states(blob, limit)):
            out.append(dataclasses.replace(delta, source_topic=f"{self.topic}#segments{i}", n_records=0,
                                           profile=DatasetProfile.empty(delta.profile.params),
                                           extras=MappingProxyType({SEGMENTS: chunk})))
        return out

    def _labels_deltas(self, end_offset: int, labels_offset: int | None) -> list[PartialDelta]:
        """The labels stage's states, as deltas with an empty profile; their id (``<capture>#monitors@<labels
        offset>``, partition, capture offset) is new at every flush that has any."""
        if self.labels is None:
            return []
        drained = self.labels.drain()
        source = f"{self.topic}#monitors@{labels_offset if labels_offset is not None else -1}"
        size = self.spec.size_ms
        return [PartialDelta(model, None, start, start + size, source, self.partition, end_offset, 0,
                             DatasetProfile.empty(self._params), extras, stage=LABELS)
                for (model, start), extras in sorted(drained.items()) if extras]

    def _close_data(self, out: Flushed) -> None:
        """The data stage is due once the capture watermark passed a window's end (labels do not hold it)."""
        wm = self.windows.watermark_ms
        if wm is None:
            return
        for start, end in self.windows.due_windows():
            models = self.windows.close(start)
            listed, cut = marker_models(models)
            out.markers.append(WindowClosed(self.topic, self.partition, start, end, wm, listed, models_cut=cut))
            out.closed.append((start, models))

    def _close_labels(self, out: Flushed, labels_watermark_ms: int | None) -> None:
        """The labels stage of windows closes once both watermarks passed their end (one marker per advance:
        the merger closes every window ending at or before its watermark)."""
        cwm = self.windows.watermark_ms
        if self.labels is None or cwm is None or labels_watermark_ms is None:
            return
        watermark = min(cwm, labels_watermark_ms)
        boundary = self.labels.close_labels(watermark)
        if boundary is not None:
            size = self.spec.size_ms
            out.markers.append(WindowClosed(self.topic, self.partition, boundary - size, boundary, watermark,
                                            stage=LABELS))
