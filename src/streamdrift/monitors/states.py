"""Merging the per-window states of the monitors beside data quality (model quality, bias, attribution) from
their blobs, whatever their kind: the control plane folds each arriving delta's state into one, so a window
that stays open for an hour of late labels holds one state, not one blob per commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol, Self

from streamdrift.errors import ParameterMismatchError
from streamdrift.profile.sketches import BlobKind, read_envelope


class _State(Protocol):
    def merge(self, other: Self) -> Self: ...
    def to_bytes(self) -> bytes: ...


def _quality(blob: bytes) -> _State:
    from streamdrift.monitors.model_quality import state_from_bytes

    return state_from_bytes(blob)


def _bias(blob: bytes) -> _State:
    from streamdrift.monitors.bias import BiasState

    return BiasState.from_bytes(blob)


def _attribution(blob: bytes) -> _State:
    from streamdrift.monitors.attribution import AttributionState

    return AttributionState.from_bytes(blob)


_READERS: Final[dict[int, Callable[[bytes], _State]]] = {
    BlobKind.MODEL_QUALITY_BINARY: _quality,
    BlobKind.MODEL_QUALITY_MULTICLASS: _quality,
    BlobKind.MODEL_QUALITY_REGRESSION: _quality,
    BlobKind.BIAS: _bias,
    BlobKind.ATTRIBUTION: _attribution,
}


def merge_state_blobs(blobs: Sequence[bytes]) -> bytes:
    """One blob holding the merge of ``blobs`` (states of one kind). SerializationError on unreadable blobs,
    MergeError / ParameterMismatchError on states that do not merge (other kinds, configs or classes)."""
    if len(blobs) == 1:
        return bytes(blobs[0])
    kind = read_envelope(blobs[0]).kind
    reader = _READERS.get(kind)
    if reader is None:
        raise ParameterMismatchError(f"blobs of kind {kind} are not monitor states")
    merged = reader(blobs[0])
    for blob in blobs[1:]:
        merged = merged.merge(reader(blob))
    return merged.to_bytes()
