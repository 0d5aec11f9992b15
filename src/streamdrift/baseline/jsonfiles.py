"""Reading and writing the JSON documents of baselines and SageMaker / Clarify files, with our errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from streamdrift.errors import BaselineError


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object stored at ``path``; BaselineError when it is unreadable, not JSON or not an object."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise BaselineError(f"cannot read {path}: {exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise BaselineError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BaselineError(f"{path}: expected a JSON object")
    return data


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` indented (numpy values allowed), creating the parent directory; returns the path."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    except OSError as exc:
        raise BaselineError(f"cannot write {target}: {exc}") from exc
    return target
