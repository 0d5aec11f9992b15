"""Messages of the formats model servers emit, built exactly as their public specifications and documentation
describe them, for the mapped-source tests (unit, integration, benchmark).

- Open Inference Protocol v2 (KServe / Triton / Seldon MLServer), REST JSON: the inference request
  ``{"id", "parameters"?, "inputs": [{"name", "shape", "datatype", "data"}]}`` and response
  ``{"model_name", "model_version"?, "id", "outputs": [{"name", "shape", "datatype", "data"}]}``, tensor data in
  row-major order, flat (or nested) -- https://github.com/kserve/open-inference-protocol/blob/main/specification/
  protocol/inference_rest.md ("Inference Request JSON Object", "Inference Response JSON Object", "Tensor Data").
- KServe payload logging (https://kserve.github.io/website/docs/model-serving/predictive-inference/logger and
  kserve/kserve pkg/logger/worker.go): one CloudEvent per request and one per response, with ``id`` (the request
  id, shared by both), ``type`` ``org.kubeflow.serving.inference.request`` / ``.response``, ``source``,
  ``specversion`` 1.0 and the extensions ``inferenceservicename``, ``namespace``, ``component``, ``endpoint``;
  the body is the HTTP body (v1 ``{"instances": [...]}`` / ``{"predictions": [...]}`` or the v2 JSON above). On
  Kafka in binary content mode (CloudEvents Kafka protocol binding, https://github.com/cloudevents/spec/blob/v1.0.2/
  cloudevents/bindings/kafka-protocol-binding.md section 3.2): every attribute is a ``ce_<name>`` header, the
  body the message value, the content type the ``content-type`` header.
- SageMaker data capture (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html,
  "View captured data"): one JSON line per request, ``{"captureData": {"endpointInput": {"observedContentType",
  "mode": "INPUT", "data", "encoding": "CSV"|"JSON"|"BASE64"}, "endpointOutput": {... "mode": "OUTPUT"}},
  "eventMetadata": {"eventId", "inferenceId"?, "inferenceTime"}, "eventVersion": "0"}``; the real capture file in
  /work/shared/conformance/sagemaker/capture/captured-data.jsonl has this shape.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

Headers = list[tuple[str, bytes]]


def oip_tensor(name: str, rows: Sequence[Sequence[float]] | Sequence[float], datatype: str = "FP32",
               *, nested: bool = False) -> dict[str, Any]:
    """One OIP tensor: 2-D rows (shape [n, k]) or a 1-D column (shape [n]); data flat unless ``nested``."""
    if rows and isinstance(rows[0], Sequence):
        matrix = [list(r) for r in rows]  # type: ignore[arg-type]
        shape = [len(matrix), len(matrix[0])]
        data: list[Any] = matrix if nested else [v for r in matrix for v in r]
    else:
        shape = [len(rows)]
        data = list(rows)
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def oip_request(request_id: str, inputs: Sequence[dict[str, Any]], parameters: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"id": request_id, "inputs": list(inputs)}
    if parameters is not None:
        body["parameters"] = parameters
    return orjson.dumps(body)


def oip_response(request_id: str, model_name: str, outputs: Sequence[dict[str, Any]],
                 model_version: str | None = "1") -> bytes:
    body: dict[str, Any] = {"model_name": model_name, "id": request_id, "outputs": list(outputs)}
    if model_version is not None:
        body["model_version"] = model_version
    return orjson.dumps(body)


def ce_headers(event_id: str, kind: str, service: str, *, namespace: str = "default",
               component: str = "predictor", time_ms: int = 1_718_000_000_000) -> Headers:
    """The ``ce_*`` headers of one KServe logger event in binary mode (``kind``: ``request`` / ``response``)."""
    when = datetime.fromtimestamp(time_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    attrs = {
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_type": f"org.kubeflow.serving.inference.{kind}",
        "ce_source": "http://localhost:9081/",
        "ce_time": when,
        "ce_inferenceservicename": service,
        "ce_namespace": namespace,
        "ce_component": component,
        "ce_endpoint": "default",
        "content-type": "application/json",
    }
    return [(k, v.encode()) for k, v in attrs.items()]


def kserve_v1_request(instances: Sequence[Sequence[float]]) -> bytes:
    return orjson.dumps({"instances": [list(i) for i in instances]})


def kserve_v1_response(predictions: Sequence[object]) -> bytes:
    return orjson.dumps({"predictions": list(predictions)})


def sagemaker_csv_record(features: Sequence[float], prediction: float, *, event_id: str,
                         inference_id: str | None, time_ms: int, base64_input: bool = False) -> bytes:
    """One capture line with CSV payloads (the docs' example endpoint: ``text/csv`` in, a score out)."""
    data = ",".join(repr(float(v)) for v in features)
    endpoint_input: dict[str, Any] = {"observedContentType": "text/csv", "mode": "INPUT", "data": data,
                                      "encoding": "CSV"}
    if base64_input:
        endpoint_input.update(data=base64.b64encode(data.encode()).decode(), encoding="BASE64")
    meta: dict[str, Any] = {"eventId": event_id,
                            "inferenceTime": datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return orjson.dumps({
        "captureData": {
            "endpointInput": endpoint_input,
            "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                               "data": repr(float(prediction)), "encoding": "CSV"},
        },
        "eventMetadata": meta,
        "eventVersion": "0",
    })


def produce_messages(bootstrap: str, topic: str,
                     messages: Sequence[tuple[bytes, Headers | None, int] | tuple[bytes, Headers | None, int, bytes]],
                     *, partition: int | None = None) -> None:
    """Produce (value, headers, timestamp ms[, key]) messages and wait for every ack (raises on a failed
    delivery)."""
    from confluent_kafka import KafkaError, Message, Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    failed: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(err)

    for message in messages:
        value, headers, stamp = message[:3]
        kwargs: dict[str, Any] = {"value": value, "timestamp": stamp, "on_delivery": delivered}
        if len(message) > 3:
            kwargs["key"] = message[3]
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) or failed:
        raise RuntimeError(f"not every message to {topic} was delivered: {failed[:1]}")
