"""The table of wire formats a source may carry (``preset`` in the settings), each decoding one message into the
document the mapping's pointers address:

- ``json``: any JSON object, as it is;
- ``oip-v2``: the Open Inference Protocol v2 JSON request and response (KServe, Triton, Seldon MLServer;
  https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol and
  https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md), one
  message each, paired by ``id``. The pair's document: ``{"id", "model_name", "model_version", "parameters",
  "inputs": {tensor name: tensor}, "outputs": {tensor name: tensor}}`` (tensors ``{name, shape, datatype, data}``);
- ``kserve-cloudevents``: KServe's payload logger on Kafka, CloudEvents binary mode (the CloudEvents Kafka
  protocol binding: attributes as ``ce_*`` headers; KServe's pkg/logger/worker.go sets ``id``, ``type``
  ``org.kubeflow.serving.inference.request`` / ``.response``, ``source`` and the extensions
  ``inferenceservicename``, ``namespace``, ``component``, ``endpoint``), request and response paired by
  ``ce_id``. The document: the request's and the response's bodies merged (v1 ``instances`` / ``predictions``,
  or v2 ``inputs`` / ``outputs`` as for ``oip-v2``) plus ``"ce": {attribute: value}`` (the response's
  attributes), ``"ce_request"`` and ``"ce_response"`` (each event's own: ``/ce_request/time``, the request's
  ``ce_time``, is the usual event time, ``unit: iso``);
- ``sagemaker-capture``: a SageMaker data capture record (``captureData.endpointInput`` / ``endpointOutput``
  with CSV or JSON payloads, ``eventMetadata``; https://docs.aws.amazon.com/sagemaker/latest/dg/
  model-monitor-data-capture-endpoint.html). The document: ``{"input": rows, "output": values,
  "eventMetadata": {...}}`` where a CSV payload is a list of rows of cells and a JSON payload its parsed value
  (``{"instances": [...]}`` is unwrapped to the list, ``{"predictions": [...]}`` likewise).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from streamdrift.ingest.sources.pointer import MappingMismatch
from streamdrift.ingest.values import load_json

__all__ = ["CE_REQUEST", "CE_RESPONSE", "PRESETS", "Half", "Headers", "Preset", "RawHeaders", "headers_dict"]

CE_REQUEST: Final[str] = "org.kubeflow.serving.inference.request"
CE_RESPONSE: Final[str] = "org.kubeflow.serving.inference.response"
Headers = Mapping[str, bytes]


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 us more to build, one per message
class Half:
    """One side of a request / response pair: its id, ``"request"`` or ``"response"``, and its document part."""

    pair_id: str
    role: str
    part: dict[str, Any]


Decode = Callable[[bytes, Headers, int], "dict[str, Any] | Half"]
DecodePoll = Callable[[Sequence[bytes], int], "list[Half] | None"]


@dataclass(frozen=True)
class Preset:
    name: str
    decode: Decode  # (value, headers, max bytes) -> the document, or one half of a pair
    paired: bool
    description: str
    # a poll of messages at once (without headers), the same halves as ``decode`` one by one, or None when it
    # does not take the poll (then each message is decoded alone, which names the bad ones)
    decode_poll: DecodePoll | None = None


RawHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None


def headers_dict(headers: RawHeaders) -> dict[str, bytes]:
    """Kafka headers (a list of (name, value) pairs, or a dict) as a dict of bytes; the last value of a repeated
    name wins."""
    if not headers:
        return {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {k: v.encode() if isinstance(v, str) else v or b"" for k, v in pairs}


def _json(value: bytes, headers: Headers, max_bytes: int) -> dict[str, Any]:
    return load_json(value, max_bytes)


def _tensors(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """An OIP ``inputs`` / ``outputs`` list as {tensor name: tensor}."""
    listed = body.get(key)
    if not isinstance(listed, list):
        raise MappingMismatch(f"/{key}", "not an array of tensors")
    out: dict[str, Any] = {}
    for i, tensor in enumerate(listed):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise MappingMismatch(f"/{key}/{i}", "a tensor is an object with a name")
        out[tensor["name"]] = tensor
    return out


def _oip_part(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(role, document part) of an OIP v2 request (``inputs``) or response (``outputs`` with ``model_name``)."""
    if "inputs" in body:
        part: dict[str, Any] = {"inputs": _tensors(body, "inputs")}
        if "parameters" in body:
            part["parameters"] = body["parameters"]
        return "request", part
    if "outputs" in body:
        part = {"outputs": _tensors(body, "outputs")}
        for key in ("model_name", "model_version"):
            if key in body:
                part[key] = body[key]
        return "response", part
    raise MappingMismatch("/inputs", "neither an OIP request (inputs) nor a response (outputs)")


def _oip(value: bytes, headers: Headers, max_bytes: int) -> Half:
    body = load_json(value, max_bytes)
    pair_id = body.get("id")
    if not isinstance(pair_id, str) or not pair_id:
        raise MappingMismatch("/id", "an OIP request / response needs its id to be paired")
    role, part = _oip_part(body)
    part["id"] = pair_id
    return Half(pair_id, role, part)


def _oip_poll(values: Sequence[bytes], max_bytes: int) -> list[Half] | None:
    """:func:`_oip` of every message, with one C-level parse of the poll; None when a message is not a plain
    OIP request or response (the per-message path names it)."""
    if not values or max(map(len, values)) > max_bytes:
        return None
    try:
        bodies = list(map(orjson.loads, values))
    except orjson.JSONDecodeError:
        return None
    if set(map(type, bodies)) != {dict}:
        return None
    halves: list[Half] = []
    for body in bodies:
        pair_id = body.get("id")
        if type(pair_id) is not str or not pair_id:
            return None
        try:
            if "inputs" in body:
                part: dict[str, Any] = {"inputs": {t["name"]: t for t in body["inputs"]}}
                if "parameters" in body:
                    part["parameters"] = body["parameters"]
                role, named = "request", part["inputs"]
            elif "outputs" in body:
                part = {"outputs": {t["name"]: t for t in body["outputs"]}}
                for key in ("model_name", "model_version"):
                    if key in body:
                        part[key] = body[key]
                role, named = "response", part["outputs"]
            else:
                return None
        except (TypeError, KeyError):
            return None
        if named and set(map(type, named)) != {str}:
            return None
        part["id"] = pair_id
        halves.append(Half(pair_id, role, part))
    return halves


def _kserve(value: bytes, headers: Headers, max_bytes: int) -> Half:
    try:
        ce = {k[3:]: v.decode() for k, v in headers.items() if k.startswith("ce_")}
    except UnicodeDecodeError as exc:
        raise MappingMismatch("header ce_*", "not UTF-8") from exc
    pair_id = ce.get("id")
    if not pair_id:
        raise MappingMismatch("header ce_id", "absent")
    kind = ce.get("type")
    if kind not in (CE_REQUEST, CE_RESPONSE):
        raise MappingMismatch("header ce_type", f"{str(kind)[:80]!r} is not {CE_REQUEST} or {CE_RESPONSE}")
    body = load_json(value, max_bytes)
    if "inputs" in body or "outputs" in body:  # v2 body
        _, part = _oip_part(body)
    else:  # v1: {"instances": [...]} / {"predictions": [...]}
        part = dict(body)
    role = "request" if kind == CE_REQUEST else "response"
    part["ce"] = ce  # the pair's document: the response's attributes (its part comes second) ...
    part[f"ce_{role}"] = ce  # ... and each event's own: /ce_request/time is the request's CloudEvents time
    part["id"] = pair_id
    return Half(pair_id, role, part)


def _sagemaker(value: bytes, headers: Headers, max_bytes: int) -> dict[str, Any]:
    obj = load_json(value, max_bytes)
    capture = obj.get("captureData")
    if not isinstance(capture, dict):
        raise MappingMismatch("/captureData", "absent or not an object")
    doc: dict[str, Any] = {"input": _payload(capture.get("endpointInput"), "/captureData/endpointInput")}
    if capture.get("endpointOutput") is not None:
        doc["output"] = _payload(capture["endpointOutput"], "/captureData/endpointOutput")
    meta = obj.get("eventMetadata")
    doc["eventMetadata"] = meta if isinstance(meta, dict) else {}
    return doc


def _payload(payload: object, where: str) -> Any:
    """A capture payload's data: CSV -> rows of cells (numbers where numeric), JSON -> its value unwrapped."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
        raise MappingMismatch(f"{where}/data", "absent or not a string")
    data: str = payload["data"]
    encoding = str(payload.get("encoding", "")).upper()
    content = str(payload.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise MappingMismatch(f"{where}/data", "BASE64 data that does not decode to UTF-8") from exc
        encoding = "JSON" if "json" in content else "CSV"
    if encoding == "JSON" or (not encoding and "json" in content):
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise MappingMismatch(f"{where}/data", f"not JSON: {exc}") from None
        if isinstance(parsed, dict):
            for key in ("instances", "predictions"):
                if isinstance(parsed.get(key), list):
                    return parsed[key]
        return parsed
    rows = [[_cell(c) for c in cells] for cells in csv.reader(io.StringIO(data)) if cells]
    if not rows:
        raise MappingMismatch(f"{where}/data", "an empty CSV payload")
    return rows


def _cell(text: str) -> object:
    cell = text.strip()
    if not cell:
        return None
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        number = float(cell)
    except ValueError:
        return cell
    return number if number == number and abs(number) != float("inf") else cell


PRESETS: Final[dict[str, Preset]] = {
    p.name: p for p in (
        Preset("json", _json, False, "a JSON object per message, as it is"),
        Preset("oip-v2", _oip, True, "Open Inference Protocol v2 JSON requests and responses, paired by id",
               _oip_poll),
        Preset("kserve-cloudevents", _kserve, True,
               "KServe payload logging, CloudEvents binary mode (ce_* headers), paired by ce_id"),
        Preset("sagemaker-capture", _sagemaker, False, "SageMaker data capture records (captureData, eventMetadata)"),
    )
}
