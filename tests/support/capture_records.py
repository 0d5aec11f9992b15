"""JSON capture records for the ingest tests: one record of a small model (a fractional, an integral, a text and
a boolean feature; a class prediction) at a fixed epoch."""

from __future__ import annotations

from typing import Any

import orjson

T0 = 1_718_000_000_000


def json_record(i: int, model: str = "m", **extra: Any) -> bytes:
    obj: dict[str, Any] = {
        "model_id": model,
        "inference_id": f"id{i}",
        "timestamp": T0 + i,
        "features": {"x": i * 0.5, "n": i, "city": ["oslo", "rome"][i % 2], "flag": i % 2 == 0},
        "prediction": i % 3,
    }
    obj.update(extra)
    return orjson.dumps(obj)

