"""The native fast path of the mapping engine: a poll of ``json`` or ``oip-v2`` messages read by the Rust reader
(``streamdrift._native.read_source_poll``), which parses each message once and follows the mapping's paths
there, giving the poll's feature values as one float64 buffer: no Python object per feature value, and the
parse runs without the GIL.

For ``oip-v2`` the reader also gives each message's ``id`` and role, the pairing matches them in bulk
(:meth:`~.pairing.PairStore.match`: one dict operation per message, no document built) and each path's values
are gathered from the message of its role (``/inputs/..``, ``/parameters/..``: the request; ``/outputs/..``,
``/model_name``, ``/model_version``: the response) with numpy. Halves that waited from an earlier poll are read
again from the bytes the store kept. The rows then go through :meth:`.pollpath.PollMapping.assemble`, the same
checks as the Python poll path; tests/unit/ingest/sources/test_nativepoll.py checks that both give the same
batches and pair outcomes.

Anything the reader does not take (headers the mapping reads, a message that is not plain JSON of the expected
shape) returns None before the pair store is touched, and the Python paths read the poll and name the dead
letters. When the pairs are matched but their values are not all of the fast path's kind, the matched pairs are
decoded in Python (:meth:`NativePoll.paired_docs`): the store is never offered a message twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift import _native
from streamdrift.ingest.limits import Checks
from streamdrift.ingest.segments import Segment
from streamdrift.ingest.sources.blocks import PerRow
from streamdrift.ingest.sources.config import MappingSettings, ValueFrom
from streamdrift.ingest.sources.pairing import Matched, Matches, PairStore, _Waiting
from streamdrift.ingest.sources.pointer import pointer_tokens
from streamdrift.ingest.sources.pollpath import Docs, Extracted, PollMapping
from streamdrift.ingest.sources.presets import CE_REQUEST, CE_RESPONSE, RawHeaders, headers_dict

__all__ = ["NativePoll"]

_TENSOR, _FLAT, _SCALARS, _VALUE, _TENSORS, _FIELDS = 0, 1, 2, 3, 4, 5
_ABSENT: Final = object()
_REQUEST_KEYS = frozenset({"inputs", "parameters", "id", "instances"})
_RESPONSE_KEYS = frozenset({"outputs", "model_name", "model_version", "predictions"})
_CE_KEYS = frozenset({"ce", "ce_request", "ce_response"})
_CE_TYPES: Final = {CE_REQUEST.encode(): "request", CE_RESPONSE.encode(): "response"}
_STR: Final = {str}
Step = tuple[str, int, bool]
Path = tuple[list[Step], int, int]
Found = list[Any]  # one item per path, as read_source_poll returns them


def _steps(pointer: str, oip: bool, kserve: bool = False) -> list[Step] | None:
    tokens = pointer_tokens(pointer)
    if not tokens or (tokens[0] in ("instances", "predictions") and not kserve) or (kserve and tokens[0] == "id"):
        return None
    steps = [(t, int(t) if t.isdigit() else -1, False) for t in tokens]
    if oip:  # the oip-v2 document addresses a tensor by name: /inputs/<name> is an element of the inputs list
        if tokens[0] not in _REQUEST_KEYS | _RESPONSE_KEYS:
            return None
        if tokens[0] in ("inputs", "outputs"):
            if len(tokens) < 2:
                return None
            steps[1] = (tokens[1], -1, True)
    return steps


class NativePoll:
    """A mapping's paths for the native reader (see the module docs); :attr:`usable` False when it does not
    apply (another preset, headers read, an event time in ISO text is fine, ...)."""

    def __init__(self, m: MappingSettings, preset: str, poll: PollMapping) -> None:
        self.poll = poll
        self.kserve = preset == "kserve-cloudevents"
        self.paired = oip = preset in ("oip-v2", "kserve-cloudevents")
        self.paths: list[Path] = []
        self.roles: list[str | None] = []  # the role whose message holds each path (paired)
        self._where: dict[str, int] = {}
        self._fields: list[list[Step]] = []  # the named fields' paths, read together (one _FIELDS path)
        # kserve-cloudevents: values from the events' headers, name -> (header | ce | ce_request | ce_response | id,
        # the header's or attribute's name)
        self._headed: dict[str, tuple[str, str]] = {}
        ok = poll.usable and preset in ("json", "oip-v2", "kserve-cloudevents") and m.features is not None

        def add(name: str, pointer: str, kind: int, width: int = 0) -> None:
            nonlocal ok
            tokens = pointer_tokens(pointer)
            if self.kserve and tokens and tokens[0] in _CE_KEYS | {"id"}:
                if kind != _VALUE or len(tokens) != (1 if tokens[0] == "id" else 2):
                    ok = False
                else:
                    self._headed[name] = (tokens[0], tokens[-1])
                return
            steps = _steps(pointer, oip, self.kserve)
            if steps is None:
                ok = False
                return
            if (steps, kind, width) in self.paths:  # read once (the pairing id is often the inference id too)
                self._where[name] = self.paths.index((steps, kind, width))
                return
            self._where[name] = len(self.paths)
            self.paths.append((steps, kind, width))
            self.roles.append(("request" if steps[0][0] in _REQUEST_KEYS else "response") if oip else None)

        f = m.features
        if ok and f is not None:
            if f.tensor is not None:
                add("tensor", f.tensor, _TENSOR, len(poll.names))
            elif not self._add_fields(list(f.named_fields().values())):
                for j, pointer in enumerate(f.named_fields().values()):
                    add(f"field{j}", pointer, _FLAT)
        for name, per_row in (("prediction", m.prediction), ("score", m.score)):
            if per_row is not None:
                add(name, per_row, _SCALARS)
        for name, spec in (("model_id", m.model_id), ("model_version", m.model_version),
                           ("inference_id", m.inference_id)):
            if spec is None or spec.const is not None or spec.key:
                continue
            if spec.field is None:
                assert spec.header is not None
                self._headed[name] = ("header", spec.header)
                ok = ok and self.kserve  # headers of other presets: the Python paths
            else:
                add(name, spec.field, _VALUE)
        if m.event_time.field is not None:
            add("time", m.event_time.field, _VALUE)
        if oip and not self.kserve:
            add("id", "/id", _VALUE)
        if oip:
            for key in ("inputs", "outputs"):  # the role, and each message's tensors named as _oip checks
                self._where[key] = len(self.paths)
                self.paths.append(([(key, -1, False)], _TENSORS, 0))
                self.roles.append(None)
        self.mapping = m
        self.usable = ok

    def _add_fields(self, pointers: list[str]) -> bool:
        """The named fields as one _FIELDS path (the reader gives their matrix and one count per message), when
        they are all plain paths of one role; else False (one _FLAT path each)."""
        steps = [_steps(p, self.paired, self.kserve) for p in pointers]
        firsts = {None if s is None else s[0][0] for s in steps}
        if not steps or None in firsts or (self.kserve and firsts & (_CE_KEYS | {"id"})):
            return False
        roles = {"request" if first in _REQUEST_KEYS else "response" for first in firsts}
        if self.paired and len(roles) > 1:
            return False
        self._fields = [s for s in steps if s is not None]
        self._where["fields"] = len(self.paths)
        self.paths.append(([], _FIELDS, len(steps)))
        self.roles.append(roles.pop() if self.paired else None)
        return True

    def read(self, values: Sequence[bytes], max_bytes: int) -> Found | None:
        listed = values if isinstance(values, list) else list(values)
        # no document is kept: any poll
        return _native.read_source_poll(listed, self.paths, _ABSENT, max_bytes, 1 << 40, self._fields)

    # -- one message a document (preset json) ------------------------------------------------------
    def segments(self, values: Sequence[bytes], keys: Sequence[bytes | None], stamps: Sequence[int],
                 checks: Checks, max_rows: int, max_bytes: int) -> list[tuple[str, str | None, Segment]] | None:
        found = self.read(values, max_bytes)
        if found is None:
            return None
        n = len(values)
        every = np.arange(n)
        return self._assemble(found, every, keys, stamps, list(range(n)), checks, max_rows)

    def _assemble(self, found: Found, take: NDArray[np.int64], keys: Sequence[bytes | None],
                  stamps: Sequence[int], indices: list[int], checks: Checks, max_rows: int,
                  takes: dict[str, NDArray[np.int64]] | None = None, headed: dict[str, list[Any]] | None = None,
                  ) -> list[tuple[str, str | None, Segment]] | None:
        """Segments of the documents made of messages ``take`` (or, paired, per path the role's message in
        ``takes``)."""
        def at(name: str) -> NDArray[np.int64]:
            return take if takes is None else takes[self.roles[self._where[name]] or "request"]

        features = self._features(found, at)
        if features is None:
            return None
        matrix, counts = features
        count_list: list[int] = counts.tolist()
        labels = self._per_row(found, "prediction", at, counts)
        scores = self._per_row(found, "score", at, counts)
        if isinstance(labels, bool) or isinstance(scores, bool):
            return None
        n = len(take)
        values: dict[str, list[Any] | None] = {}
        headed = headed or {}
        for name in ("model_id", "model_version", "inference_id"):
            spec: ValueFrom | None = getattr(self.mapping, name)
            if name in headed:
                values[name] = headed[name]
            elif spec is None:
                values[name] = None
            elif spec.const is not None:
                values[name] = [spec.const] * n
            elif spec.key:
                try:
                    values[name] = list(map(bytes.decode, keys))  # type: ignore[arg-type]  # None raises
                except (TypeError, UnicodeDecodeError):
                    return None
            else:
                got = self._values(found, name, at, takes is None)
                if got is None:
                    return None
                values[name] = got
        times: list[Any] | None = list(stamps)
        if "time" in headed:
            times = headed["time"]
        elif "time" in self._where:
            times = self._values(found, "time", at, takes is None)
            if times is None:
                return None
        return self.poll.assemble(Extracted(values["model_id"], values["model_version"], matrix, count_list,
                                            labels, scores, values["inference_id"], times, indices),
                                  checks, max_rows)

    def _features(self, found: Found, at: Any) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
        width = len(self.poll.names)
        if "fields" in self._where:  # (fields x rows) from the reader: their transpose is the column-major matrix
            buf, raw_counts = found[self._where["fields"]]
            rows = _index(np.frombuffer(raw_counts, dtype=np.int64), at("fields"))
            if rows is None:
                return None
            index, per = rows
            matrix = np.frombuffer(buf, dtype=np.float64).reshape(width, -1)
            return (matrix if index is None else matrix[:, index]).T, per
        if "tensor" in self._where:
            buf, raw_counts = found[self._where["tensor"]]
            flat = np.frombuffer(buf, dtype=np.float64)
            return _gather(flat.reshape(-1, width) if width else flat.reshape(0, 0),
                           np.frombuffer(raw_counts, dtype=np.int64), at("tensor"))
        columns = []
        counts: NDArray[np.int64] | None = None
        for j in range(width):
            buf, raw_counts = found[self._where[f"field{j}"]]
            got = _gather(np.frombuffer(buf, dtype=np.float64), np.frombuffer(raw_counts, dtype=np.int64),
                          at(f"field{j}"))
            if got is None or (counts is not None and not np.array_equal(got[1], counts)):
                return None
            columns.append(got[0])
            counts = got[1]
        if counts is None:
            return None
        return np.stack(columns).T, counts  # (rows x features), column-major: segment_of takes its columns as they are

    def _per_row(self, found: Found, name: str, at: Any, counts: NDArray[np.int64]) -> PerRow | bool | None:
        """Per-row values of a path (None without it; False when the fast path does not take them): float64 when
        the reader found only numbers (no object per row), else their objects."""
        if name not in self._where:
            return None
        values, raw_counts = found[self._where[name]]
        numbers = not isinstance(values, list)
        got = _gather(np.frombuffer(values, dtype=np.float64) if numbers else np.array(values, dtype=object),
                      np.frombuffer(raw_counts, dtype=np.int64), at(name))
        if got is None or not np.array_equal(got[1], counts):
            return False
        return got[0] if numbers else list(got[0].tolist())

    def _values(self, found: Found, name: str, at: Any, whole: bool) -> list[Any] | None:
        """A path's value in every message of the documents (``whole``: the documents are the messages, in order:
        no gathering)."""
        column: list[Any] = found[self._where[name]]
        out = list(column) if whole else list(map(column.__getitem__, at(name).tolist()))
        return None if _ABSENT in out else out

    # -- request / response pairs (preset oip-v2) --------------------------------------------------
    def paired_segments(self, values: Sequence[bytes], keys: Sequence[bytes | None], stamps: Sequence[int],
                        raw_headers: Sequence[RawHeaders], pairs: PairStore, checks: Checks, max_rows: int,
                        max_bytes: int,
                        ) -> tuple[list[tuple[str, str | None, Segment]] | None, Matches] | None:
        """None when the reader does not take the poll (the store untouched); else the pairs matched (the store
        offered every message) and their segments, or None for the segments when the pairs must be decoded
        in Python (:meth:`paired_docs`)."""
        found = self.read(values, max_bytes)
        if found is None:
            return None
        n = len(values)
        plain = raw_headers.count(None) == n
        headers: list[dict[str, bytes]] = [{}] * n if plain else list(map(headers_dict, raw_headers))
        got = self._kserve_roles(headers) if self.kserve else self._oip_roles(found)
        if got is None:
            return None
        ids, requests = got
        if self.kserve and not self._roles_apart(found, requests):
            return None
        matched = pairs.match_columns(ids, requests.tobytes(), stamps, keys, headers, values)
        if not len(matched):
            return [], matched
        carried = matched.carried
        if carried:
            more = self.read([w.value for w in carried], max_bytes)
            if more is None:
                return None, matched
            joined = [_concat(a, b, width if kind == _FIELDS else 0)
                      for a, b, (_, kind, width) in zip(found, more, self.paths, strict=True)]
            if None in joined:
                return None, matched
            found = joined
        takes = {role: matched.positions(role, n) for role in ("request", "response")}
        headed = self._headed_values(matched.rows(), headers, ids) if self._headed else {}
        if headed is None:
            return None, matched
        segments = self._assemble(found, takes["request"], matched.keys, matched.timestamps.tolist(),
                                  matched.index.tolist(), checks, max_rows, takes, headed)
        return segments, matched

    def _oip_roles(self, found: Found) -> tuple[list[str], NDArray[np.bool_]] | None:
        """(id, whether a request) of every message; None when one has no text id or is neither."""
        ids: list[Any] = found[self._where["id"]]
        if set(map(type, ids)) - _STR or "" in ids:  # (the absent marker is not a str)
            return None
        has_in = np.frombuffer(found[self._where["inputs"]], dtype=np.int64)
        has_out = np.frombuffer(found[self._where["outputs"]], dtype=np.int64)
        request = has_in.astype(bool)
        if not (request | has_out.astype(bool)).all():
            return None  # neither a request nor a response: the per-document path names it
        return ids, request

    @staticmethod
    def _kserve_roles(headers: list[dict[str, bytes]]) -> tuple[list[str], NDArray[np.bool_]] | None:
        """(ce_id, whether a request by ce_type) of every event; None when one is not a plain request or response
        event."""
        try:
            ids = [h["ce_id"].decode() for h in headers]
            kinds = [h["ce_type"] for h in headers]
            for h in headers:  # every attribute is text, as the preset decodes them
                for k, v in h.items():
                    if k.startswith("ce_"):
                        v.decode()
        except (KeyError, UnicodeDecodeError):
            return None
        if "" in ids or not set(kinds) <= _CE_TYPES.keys():
            return None
        return ids, np.array([_CE_TYPES[k] == "request" for k in kinds], dtype=bool)

    def _roles_apart(self, found: Found, requests: NDArray[np.bool_]) -> bool:
        """Whether every path is absent from the events of the other role (a KServe v1 body is merged as it is:
        a key in both bodies is left to the Python paths)."""
        response = ~requests
        for (_, kind, _), role, item in zip(self.paths, self.roles, found, strict=True):
            if role is None:
                continue
            if kind in (_TENSOR, _FLAT, _SCALARS, _FIELDS):
                present = np.frombuffer(item[1], dtype=np.int64) != -1  # (-2: some of the fields)
            else:
                present = np.fromiter((v is not _ABSENT for v in item), dtype=bool, count=len(requests))
            other = ~response if role == "response" else response
            if (present & other).any():
                return False
        return True

    def _headed_values(self, matched: list[Matched], headers: list[dict[str, bytes]],
                       ids: list[str]) -> dict[str, list[Any]] | None:
        """Values from the pairs' headers (the completing event's header winning, as the merged headers), their
        CloudEvents attributes (``ce``: the response's) or ids; None when one is absent or not UTF-8."""
        def of(ref: int | _Waiting) -> dict[str, bytes]:
            return headers[ref] if isinstance(ref, int) else ref.headers

        out: dict[str, list[Any]] = {}
        try:
            for name, (where, attr) in self._headed.items():
                got: list[Any] = []
                for m in matched:
                    req, resp = of(m.request), of(m.response)
                    if where == "id":
                        got.append(ids[m.index])
                    elif where == "header":
                        first, last = (req, resp) if m.response == m.index else (resp, req)
                        got.append((last[attr] if attr in last else first[attr]).decode())
                    else:
                        got.append((req if where == "ce_request" else resp)["ce_" + attr].decode())
                out[name] = got
        except (KeyError, UnicodeDecodeError):
            return None
        return out

    def paired_docs(self, matched: list[Matched], values: Sequence[bytes], raw_headers: Sequence[RawHeaders],
                    pairs: PairStore, decode: Any) -> Docs:
        """The documents of pairs matched by :meth:`paired_segments`, decoded in Python (as the per-document
        path pairs them: the request's part then the response's, the earlier event's headers then the later's)."""
        out = Docs([], [], [], [], [])
        for m in matched:
            halves, heads = [], []
            for ref in (m.request, m.response):
                if isinstance(ref, int):
                    h = headers_dict(raw_headers[ref])
                    halves.append(decode(values[ref], h))
                else:
                    h = ref.headers
                    halves.append(pairs.half_of(ref))
                heads.append(h)
            earlier, later = (heads[1], heads[0]) if m.request == m.index else (heads[0], heads[1])
            out.indices.append(m.index)
            out.docs.append({**halves[0].part, **halves[1].part})
            out.keys.append(m.key)
            out.headers.append({**earlier, **later})
            out.stamps.append(m.timestamp_ms)
        return out


def _index(counts: NDArray[np.int64],
           take: NDArray[np.int64]) -> tuple[NDArray[np.int64] | None, NDArray[np.int64]] | None:
    """Where the items of messages ``take`` are (None: all of them, in order), message i holding ``counts[i]``
    of them in order (none when negative), and how many each has; None when one of them has none (absent)."""
    per = counts[take]
    if per.size == 0 or per.min() <= 0:
        return None
    if take.size == counts.size and np.array_equal(take, np.arange(counts.size)):
        return None, per
    starts = np.concatenate(([0], np.cumsum(np.maximum(counts, 0))[:-1]))[take]
    total = int(per.sum())
    return np.repeat(starts - np.concatenate(([0], np.cumsum(per)[:-1])), per) + np.arange(total), per


def _gather(values: NDArray[Any], counts: NDArray[np.int64],
            take: NDArray[np.int64]) -> tuple[NDArray[Any], NDArray[np.int64]] | None:
    """The items (rows of ``values``) of messages ``take`` (see :func:`_index`)."""
    got = _index(counts, take)
    if got is None:
        return None
    index, per = got
    return (values if index is None else values[index]), per


def _concat(a: Any, b: Any, fields: int = 0) -> Any:
    """The values of a path in two reads, one after the other; None when they do not join (per-row numbers in
    one, objects in the other: the caller decodes the pairs in Python). ``fields``: the number of named fields
    of a _FIELDS path (its values are (fields x rows): each field's rows are joined)."""
    if fields:
        rows = [np.frombuffer(part, dtype=np.float64).reshape(fields, -1) for part in (a[0], b[0])]
        return np.concatenate(rows, axis=1).tobytes(), a[1] + b[1]
    if isinstance(a, tuple):
        parts = [_concat(x, y) for x, y in zip(a, b, strict=True)]
        return None if None in parts else tuple(parts)
    if isinstance(a, list) is not isinstance(b, list):  # per-row numbers (bytes) and objects (a list)
        return b if a == [] else a if b == [] else None
    return a + b
