"""Merging the per-window states of the monitors beside data quality (model quality, bias, attribution) from
their blobs, whatever their kind: the control plane folds each arriving delta's state into one, so a window
that stays open for an hour of late labels holds one state, not one blob per commit."""

from __future__ import annotations

from collections.abc import Sequence

from streamdrift.errors import ParameterMismatchError
from streamdrift.monitors.registry import state_reader
from streamdrift.profile.sketches import read_envelope


def merge_state_blobs(blobs: Sequence[bytes]) -> bytes:
    """One blob holding the merge of ``blobs`` (states of one kind). SerializationError on unreadable blobs,
    MergeError / ParameterMismatchError on states that do not merge (other kinds, configs or classes)."""
    if len(blobs) == 1:
        return bytes(blobs[0])
    kind = read_envelope(blobs[0]).kind
    reader = state_reader(kind)
    if reader is None:
        raise ParameterMismatchError(f"blobs of kind {kind} are not monitor states")
    merged = reader(blobs[0])
    for blob in blobs[1:]:
        merged = merged.merge(reader(blob))
    return merged.to_bytes()
