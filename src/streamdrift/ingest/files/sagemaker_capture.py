"""SageMaker data-capture JSON Lines (``captureData.endpointInput`` / ``endpointOutput``, ``eventMetadata``).

Detected by content: a JSON Lines file whose first record has a ``captureData`` object is read as capture
(the table entry claims ``jsonl`` files). CSV payload cells become ``_c0, _c1, ...``; JSON payloads
``{"instances": [...]}`` give one row per instance. Timestamps come from ``eventMetadata.inferenceTime`` and ids
from ``inferenceId`` (else ``eventId``, suffixed ``:i`` when one request carries several instances).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Final

import orjson

from streamdrift.columns.chunks import Chunk
from streamdrift.errors import BadRecordError
from streamdrift.ingest.files.base import ReadOptions
from streamdrift.ingest.files.csvfile import NUMBER
from streamdrift.ingest.files.jsonrows import Parsed, Row, iter_json_records
from streamdrift.ingest.files.text import first_lines


class SageMakerCaptureReader:
    """The ``sagemaker-capture`` format (see the module docs)."""

    def sniff(self, path: Path, options: ReadOptions) -> bool:
        """Whether the first non-blank line is a capture record (a JSON object with a ``captureData`` object)."""
        for line in first_lines(path, 5, encoding=options.encoding, max_line_bytes=options.max_line_bytes):
            if line.strip():
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return False
                return isinstance(obj, dict) and isinstance(obj.get("captureData"), dict)
        return False

    def read(self, path: Path, options: ReadOptions) -> Iterator[Chunk]:
        opts = options
        timestamp_opts = replace(opts, timestamp_column="inferenceTime", id_column="eventId")

        def parse(obj: object, _: int) -> Parsed:
            if not isinstance(obj, dict) or not isinstance(obj.get("captureData"), dict):
                raise BadRecordError("not_a_capture_record", "no captureData object")
            rows = _capture_rows(obj["captureData"], opts.prediction_column)
            meta_obj = obj.get("eventMetadata")
            meta: Mapping[str, object] = meta_obj if isinstance(meta_obj, dict) else {}
            base_id = meta.get("inferenceId") or meta.get("eventId")
            ids = [base_id if len(rows) == 1 or base_id is None else f"{base_id}:{i}" for i in range(len(rows))]
            kept = [{k: v for k, v in r.items() if k not in opts.exclude} for r in rows]
            return kept, [meta.get("inferenceTime")] * len(rows), ids

        yield from iter_json_records(path, timestamp_opts, parse)


def _capture_rows(capture: Mapping[str, object], prediction_column: str) -> list[Row]:
    inputs = _payload_rows(capture.get("endpointInput"), "endpointInput")
    output = capture.get("endpointOutput")
    if output is None:
        return inputs
    predictions = _payload_rows(output, "endpointOutput", prediction_column)
    if len(predictions) != len(inputs):
        raise BadRecordError("prediction_count_mismatch",
                          f"{len(inputs)} input rows but {len(predictions)} predictions")
    return [{**i, **p} for i, p in zip(inputs, predictions, strict=True)]


def _payload_rows(payload: object, where: str, scalar_name: str | None = None) -> list[Row]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
        raise BadRecordError("bad_capture_payload", f"{where} has no data string")
    data: str = payload["data"]
    encoding = str(payload.get("encoding", "")).upper()
    content = str(payload.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise BadRecordError("bad_capture_payload", f"{where}: base64 data does not decode to UTF-8") from exc
        encoding = "JSON" if "json" in content else "CSV"
    if encoding == "JSON" or (not encoding and "json" in content):
        try:
            return _json_payload_rows(orjson.loads(data), scalar_name)
        except orjson.JSONDecodeError as exc:
            raise BadRecordError("bad_capture_payload", f"{where}: {exc}") from exc
    return _csv_payload_rows(data, scalar_name)


def _json_payload_rows(obj: object, scalar_name: str | None) -> list[Row]:
    if isinstance(obj, dict):
        for key in ("instances", "predictions", "inputs", "outputs"):
            if isinstance(obj.get(key), list):
                return [_instance_row(v, scalar_name) for v in obj[key]]
        if isinstance(obj.get("features"), list):
            return [_instance_row(obj["features"], scalar_name)]
        return [_instance_row(obj, scalar_name)]
    if isinstance(obj, list) and obj and all(isinstance(v, list | dict) for v in obj):
        return [_instance_row(v, scalar_name) for v in obj]
    return [_instance_row(obj, scalar_name)]


def _instance_row(value: object, scalar_name: str | None) -> Row:
    if isinstance(value, dict):
        if isinstance(value.get("features"), list):
            return _instance_row(value["features"], scalar_name)
        return {f"{scalar_name}.{k}": v for k, v in value.items()} if scalar_name else dict(value)
    if isinstance(value, list):
        if scalar_name and len(value) == 1:
            return {scalar_name: value[0]}
        prefix = f"{scalar_name}." if scalar_name else ""
        return {f"{prefix}_c{i}": v for i, v in enumerate(value)}
    return {scalar_name or "_c0": value}


def _csv_payload_rows(data: str, scalar_name: str | None) -> list[Row]:
    rows: list[Row] = []
    for cells in csv.reader(io.StringIO(data)):
        if not cells:
            continue
        values: list[object] = [_csv_cell(c) for c in cells]
        rows.append(_instance_row(values, scalar_name) if len(values) != 1 else {scalar_name or "_c0": values[0]})
    return rows


def _csv_cell(text: str) -> object:
    """A CSV payload cell as SageMaker reads it: numeric-looking text becomes int / float, else stripped text."""
    cell = text.strip()
    if not cell:
        return None
    if NUMBER.match(cell):
        try:
            return int(cell) if re.fullmatch(r"[+-]?\d+", cell) else float(cell)
        except ValueError:  # more digits than Python converts to int: as large a float (inf)
            return float(cell)
    return cell


READER: Final[SageMakerCaptureReader] = SageMakerCaptureReader()
