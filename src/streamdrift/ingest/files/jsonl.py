"""JSON Lines (``.jsonl`` / ``.ndjson`` / ``.json``): one JSON object per line, parsed with orjson.

Our capture records ``{"model_id", "inference_id", "timestamp", "features": {...}, "prediction": ...}`` are
flattened: the features become columns and the prediction a column named ``prediction_column`` (a dict
prediction becomes ``<prediction_column>.<key>`` columns). Any other object is a flat row. A line that is not a
JSON object is reported to ``on_bad_line`` with its line number and skipped, never aborting the read.

With ``roles``, a capture record's ``prediction`` is the prediction (a number / string, or the ``label`` and
``score`` of an object), the target is looked up in ``features`` and then at the top level of the record (a
labelled export), and the ``attributions`` object becomes ``Chunk.attributions``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from streamdrift.columns.chunks import Chunk, RoleColumns
from streamdrift.errors import BadRecordError
from streamdrift.ingest.files.base import ATTRIBUTION_PREFIX, PREDICTION_KEY, SCORE_KEY, ReadOptions
from streamdrift.ingest.files.jsonrows import Parsed, Row, iter_json_records


class JsonlReader:
    """The ``jsonl`` format (see the module docs)."""

    def sniff(self, path: Path, options: ReadOptions) -> bool:
        return True

    def read(self, path: Path, options: ReadOptions) -> Iterator[Chunk]:
        opts = options
        drop = opts.exclude | {c for c in (opts.timestamp_column, opts.id_column) if c is not None}

        def parse(obj: object, _: int) -> Parsed:
            if not isinstance(obj, dict):
                raise BadRecordError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
            row = flatten_record(obj, opts.prediction_column, opts.roles)
            ts = _lookup(obj, row, opts.timestamp_column)
            rid = _lookup(obj, row, opts.id_column)
            return [{k: v for k, v in row.items() if k not in drop}], [ts], [rid]

        yield from iter_json_records(path, opts, parse)



def _lookup(obj: Mapping[str, object], row: Mapping[str, object], key: str | None) -> object:
    if key is None:
        return None
    return obj[key] if key in obj else row.get(key)


def flatten_record(obj: Mapping[str, object], prediction_column: str, roles: RoleColumns | None = None) -> Row:
    features = obj.get("features")
    if not isinstance(features, dict):
        return dict(obj)
    row: Row = dict(features)
    if roles is not None:
        return _capture_role_row(obj, row, roles)
    if "prediction" in obj:
        row.update(_prediction_cells(obj["prediction"], prediction_column))
    return row


def _capture_role_row(obj: Mapping[str, object], row: Row, roles: RoleColumns) -> Row:
    """A capture record's features plus its prediction, score, target and attributions under role keys."""
    prediction = obj.get("prediction")
    if isinstance(prediction, dict):
        row[PREDICTION_KEY] = prediction.get("label")
        row[SCORE_KEY] = prediction.get("score")
    else:
        row[PREDICTION_KEY] = prediction
    if roles.target is not None and roles.target not in row and roles.target in obj:
        row[roles.target] = obj[roles.target]
    attributions = obj.get("attributions")
    if isinstance(attributions, dict):
        row.update({ATTRIBUTION_PREFIX + str(k): v for k, v in attributions.items()})
    return row


def _prediction_cells(prediction: object, name: str) -> Row:
    if isinstance(prediction, dict):
        return {f"{name}.{k}": v for k, v in prediction.items()}
    return {name: prediction}


READER: Final[JsonlReader] = JsonlReader()
