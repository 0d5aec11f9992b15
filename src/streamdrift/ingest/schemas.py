"""The JSON Schemas (draft 2020-12) of streamdrift's Kafka records, and validation against them.

The schema files live in the repository's ``schemas/`` directory (the one source of truth); the package
ships them as ``streamdrift/schemas/*.schema.json`` (symlinks in the source tree, copies in a wheel) and
loads them with :mod:`importlib.resources`.

Validation needs the optional ``jsonschema`` package (a dev dependency). The hot parsing path
(``records.py``) does not use it; this module is for tests, tooling and producers that want a strict check.
Format checks are on: ``date-time`` is checked as RFC 3339 here, since ``jsonschema`` only checks it when the
extra ``rfc3339-validator`` package is installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Any, Final, Literal

from streamdrift.errors import BadRecordError, ConfigError

SchemaName = Literal["capture_record", "label_record", "drift_event", "columnar_batch", "columnar_batch_arrow"]
SCHEMA_NAMES: Final[tuple[SchemaName, ...]] = (
    "capture_record",
    "label_record",
    "drift_event",
    "columnar_batch",
    "columnar_batch_arrow",  # the Arrow IPC form's schema metadata (streamdrift.arrowbatch)
)
SCHEMA_VERSION: Final = "1"

_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$",
)
# Columnar arrays that must hold exactly ``n`` items: top-level arrays and arrays inside these objects.
_COLUMNAR_ARRAYS: Final = ("inference_id", "timestamp", "prediction")
_COLUMNAR_OBJECTS: Final = ("features", "attributions", "prediction")


def schema_file_name(name: SchemaName) -> str:
    return f"{name}.schema.json"


def load_schema(name: SchemaName) -> dict[str, Any]:
    """The parsed schema document ``name`` (a fresh dict on every call)."""
    if name not in SCHEMA_NAMES:
        raise ConfigError(f"unknown schema {name!r}; expected one of {', '.join(SCHEMA_NAMES)}")
    resource = resources.files("streamdrift").joinpath("schemas", schema_file_name(name))
    try:
        document = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the packaged schema {schema_file_name(name)}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"schema {schema_file_name(name)} is not a JSON object")
    return document


def is_rfc3339(value: object) -> bool:
    """RFC 3339 date-time with a mandatory offset (``Z`` or ``±HH:MM``); non-strings pass (JSON Schema rule)."""
    if not isinstance(value, str):
        return True
    if _RFC3339.match(value) is None:
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


def validator(name: SchemaName) -> Any:
    """A ``jsonschema.Draft202012Validator`` for ``name`` with format checks on (incl. RFC 3339 date-time)."""
    try:
        from jsonschema import Draft202012Validator, FormatChecker
    except ImportError as exc:
        raise ConfigError(
            "schema validation needs the 'jsonschema' package (pip install jsonschema)"
        ) from exc
    checker = FormatChecker()
    checker.checks("date-time")(is_rfc3339)
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=checker)


def columnar_length_errors(batch: Mapping[str, Any]) -> list[str]:
    """Arrays of a columnar batch whose length differs from ``n`` (JSON Schema cannot express this rule)."""
    n = batch.get("n")
    if not isinstance(n, int) or isinstance(n, bool):
        return []
    arrays: dict[str, object] = {key: batch.get(key) for key in _COLUMNAR_ARRAYS}
    for key in _COLUMNAR_OBJECTS:
        nested = batch.get(key)
        if isinstance(nested, Mapping):
            arrays.update({f"{key}.{column}": values for column, values in nested.items()})
    return [
        f"{path}: {len(values)} items, expected n={n}"
        for path, values in arrays.items()
        if isinstance(values, list) and len(values) != n
    ]


def errors(name: SchemaName, instance: object) -> list[str]:
    """Every violation of schema ``name`` by ``instance`` (empty when valid), as readable messages."""
    found = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator(name).iter_errors(instance)
    ]
    if name == "columnar_batch" and isinstance(instance, Mapping):
        found.extend(columnar_length_errors(instance))
    return found


def validate(name: SchemaName, instance: object) -> None:
    """Raise :class:`BadRecordError` (reason ``schema_violation``) unless ``instance`` is valid."""
    found = errors(name, instance)
    if found:
        raise BadRecordError("schema_violation", f"{name}: " + "; ".join(found))
