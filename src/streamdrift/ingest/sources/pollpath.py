"""The poll-level fast path of the mapping engine: every document of a poll read column-wise at once, when its
features are a tensor (or named fields) of plain numbers in flat row-major data.

The getters run once per document (no :class:`~streamdrift.ingest.sources.blocks.Block` per document), the
feature values of the whole poll are converted to one float64 matrix in one C-level pass, and each model's rows
become one segment (:func:`~streamdrift.ingest.sources.blocks.segment_of`). It gives exactly the rows the
per-document path gives (tested); anything it does not take (nested data, objects, text, a miss, a bad value)
returns None, and the per-document path reads the poll and names the dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamdrift.errors import BadRecordError
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.sources.blocks import segment_of
from streamdrift.ingest.sources.mapping import CompiledMapping, flat_values
from streamdrift.ingest.values import plain_numbers

__all__ = ["poll_segments"]

Doc = tuple[int, Any, bytes | None, dict[str, bytes], int]  # (index, document, key, headers, Kafka timestamp)


def poll_segments(m: CompiledMapping, docs: Sequence[Doc], checks: Checks,
                  max_rows: int) -> list[tuple[str, str | None, Segment]] | None:
    """(model, version, segment) per model in first-seen order, or None (see the module docs)."""
    if not docs or m.feature_spec is None:
        return None
    try:
        models = [m.model(d, k, h) for _, d, k, h, _ in docs]
        found = _features(m, [d for _, d, _, _, _ in docs])
        if found is None:
            return None
        names, matrix, counts = found
        if max(counts) > max_rows or min(counts) == 0:
            return None
        labels = _per_row(m.prediction, docs, counts)
        scores = _per_row(m.score, docs, counts)
        ids = [m.ids(d, k, h, n) for (_, d, k, h, _), n in zip(docs, counts, strict=True)]
        stamps = [m.timestamp(d, s) for _, d, _, _, s in docs]
    except BadRecordError:
        return None
    indices = [i for i, _, _, _, _ in docs]
    if models.count(models[0]) == len(models):
        segment = segment_of(names, matrix, counts, stamps, list(chain.from_iterable(ids)),
                             None if labels is None else list(chain.from_iterable(labels)),
                             None if scores is None else list(chain.from_iterable(scores)), indices, checks)
        return None if segment is None else [(models[0][0], models[0][1], segment)]
    out = []
    row_model = np.repeat(np.arange(len(models)), counts)
    for model in dict.fromkeys(models):
        pick = [j for j, mk in enumerate(models) if mk == model]
        rows = np.isin(row_model, pick)
        segment = segment_of(names, matrix[rows], [counts[j] for j in pick], [stamps[j] for j in pick],
                             [x for j in pick for x in ids[j]],
                             None if labels is None else [x for j in pick for x in labels[j]],
                             None if scores is None else [x for j in pick for x in scores[j]],
                             [indices[j] for j in pick], checks)
        if segment is None:
            return None
        out.append((model[0], model[1], segment))
    return out


def _features(m: CompiledMapping,
              docs: list[Any]) -> tuple[tuple[str, ...], NDArray[np.float64], list[int]] | None:
    spec = m.feature_spec
    assert spec is not None
    if spec.tensor is not None:
        names = tuple(spec.names or ())
        width = len(names)
        resolve = m.tensor_resolver
        assert resolve is not None
        raw = [resolve(d) for d in docs]
        datas = [r["data"] if type(r) is dict else r for r in raw]
        if any(type(d) is not list or not d or type(d[0]) is list for d in datas):
            return None  # nested or odd data: the per-document path
        lens = list(map(len, datas))
        if any(n % width for n in lens):
            return None
        counts = [n // width for n in lens]
        for r, n in zip(raw, counts, strict=True):
            if type(r) is dict and r.get("shape") is not None and r["shape"] != [n, width] and r["shape"] != [width]:
                return None  # a shape the per-document path checks (and names)
        flat = plain_numbers(list(chain.from_iterable(datas)))
        return None if flat is None else (names, flat.reshape(-1, width), counts)
    if spec.fields is None:
        return None
    fields = m.field_resolvers
    names = tuple(name for name, _, _ in fields)
    columns: list[NDArray[np.float64]] = []
    counts = []
    for j, (_, path, resolve) in enumerate(fields):
        per_doc = [flat_values(resolve(d), path) for d in docs]
        lens = list(map(len, per_doc))
        if j == 0:
            counts = lens
        elif lens != counts:
            return None
        col = plain_numbers(list(chain.from_iterable(per_doc)))
        if col is None:
            return None
        columns.append(col)
    return names, np.stack(columns, axis=1), counts


def _per_row(getter: tuple[str, Any] | None, docs: Sequence[Doc], counts: list[int]) -> list[list[Any]] | None:
    if getter is None:
        return None
    path, resolve = getter
    values = [flat_values(resolve(d), path) for _, d, _, _, _ in docs]
    if list(map(len, values)) != counts:
        raise BadRecordError("mapping_mismatch", path)
    return values
