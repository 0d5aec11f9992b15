"""The ``sources`` section of the settings file: capture topics read through a mapping (docs/sources.md).

Validated when the settings are read (the worker's start, ``sources check``, ``baseline build``): a bad key is a
settings error naming it, e.g. ``sources.0.mapping.features.tensor: names are required with tensor``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamdrift.errors import ConfigError
from streamdrift.ingest.sources.pointer import compile_pointer

__all__ = ["PRESET_NAMES", "EventTime", "FeaturesFrom", "MappingSettings", "PairingSettings", "SourceSettings",
           "ValueFrom", "check_sources"]

PRESET_NAMES = ("json", "oip-v2", "kserve-cloudevents", "sagemaker-capture")
Preset = Literal["json", "oip-v2", "kserve-cloudevents", "sagemaker-capture"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TimeUnit = Literal["s", "ms", "us", "iso"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _pointer(value: str | None) -> str | None:
    if value is not None:
        try:
            compile_pointer(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
    return value


def _shorthand(value: object) -> object:
    """``"/a/b"`` is ``{field: "/a/b"}``; anything else is read as the object form."""
    return {"field": value} if isinstance(value, str) else value


class ValueFrom(_Frozen):
    """Where a value comes from: exactly one of a constant, the message key, a header, or a field (JSON pointer);
    a plain string is a field's pointer."""

    const: str | None = None
    key: bool = False
    header: str | None = None
    field: str | None = None

    _check_field = field_validator("field")(_pointer)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: object) -> object:
        return _shorthand(value)

    @model_validator(mode="after")
    def _one(self) -> Self:
        given = [n for n in ("const", "header", "field") if getattr(self, n) is not None] + (["key"] if self.key
                                                                                             else [])
        if len(given) != 1:
            raise ValueError(f"give exactly one of const, key, header, field (got {', '.join(given) or 'none'})")
        return self


class FeaturesFrom(_Frozen):
    """The features of a record: exactly one of

    - ``object``: pointer to an object of name -> value (or to a list of such objects: one row each);
    - ``fields``: name -> pointer (or a list of pointers, each named by its last token); a field that is a list
      (or a tensor) gives one row per element;
    - ``tensor`` + ``names``: pointer to a 2-D tensor (nested lists, or an OIP tensor ``{shape, data}``):
      column i is feature ``names[i]``, one row per tensor row (a 1-D tensor is one row).
    """

    object: str | None = None
    fields: dict[str, str] | list[str] | None = None
    tensor: str | None = None
    names: list[str] | None = None

    _check_object = field_validator("object", "tensor")(_pointer)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str] | list[str] | None) -> dict[str, str] | list[str] | None:
        for pointer in (value.values() if isinstance(value, dict) else value or []):
            _pointer(pointer)
        if value is not None and not value:
            raise ValueError("fields is empty")
        return value

    @model_validator(mode="after")
    def _one(self) -> Self:
        given = [n for n in ("object", "fields", "tensor") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of object, fields, tensor (got {', '.join(given) or 'none'})")
        if self.tensor is not None and not self.names:
            raise ValueError("names are required with tensor (column i of the tensor is feature names[i])")
        if self.tensor is None and self.names is not None:
            raise ValueError("names go with tensor only")
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError("names has duplicates")
        return self

    def named_fields(self) -> dict[str, str]:
        """``fields`` as name -> pointer."""
        if isinstance(self.fields, dict):
            return dict(self.fields)
        return {p.rsplit("/", 1)[-1]: p for p in self.fields or []}


class EventTime(_Frozen):
    """The event time: a field (``unit``: epoch ``s``, ``ms``, ``us`` or ``iso`` for ISO-8601 text; required) or
    the Kafka message timestamp (``kafka: true``, the default)."""

    field: str | None = None
    unit: TimeUnit | None = None
    kafka: bool = False

    _check_field = field_validator("field")(_pointer)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.field is None) == (not self.kafka):
            raise ValueError("give exactly one of field (with unit) or kafka: true")
        if self.field is not None and self.unit is None:
            raise ValueError("unit is required with field: s, ms, us or iso")
        if self.field is None and self.unit is not None:
            raise ValueError("unit goes with field only")
        return self


class MappingSettings(_Frozen):
    """How a message (after its preset) becomes capture records (or label records on a labels topic)."""

    model_id: ValueFrom
    model_version: ValueFrom | None = None
    features: FeaturesFrom | None = None
    prediction: str | None = None
    score: str | None = None
    label: str | None = None
    inference_id: ValueFrom | None = None
    event_time: EventTime = Field(default_factory=lambda: EventTime(kafka=True))

    _check_paths = field_validator("prediction", "score", "label")(_pointer)

    @field_validator("inference_id")
    @classmethod
    def _no_const_id(cls, value: ValueFrom | None) -> ValueFrom | None:
        if value is not None and value.const is not None:
            raise ValueError("an inference id cannot be a constant: use field, header or key")
        return value


class PairingSettings(_Frozen):
    """Request / response pairing (presets oip-v2 and kserve-cloudevents): how long a half waits for the other
    (event time, seconds), how many halves and how many of their bytes may wait per partition (the oldest
    beyond either expire)."""

    ttl_seconds: float = Field(default=600.0, gt=0)
    max_pending: int = Field(default=100_000, ge=1)
    max_pending_bytes: int = Field(default=64 << 20, ge=1)


class SourceSettings(_Frozen):
    """One capture source: a topic, its preset and its mapping (and optionally its labels topic)."""

    name: str
    topic: str = Field(min_length=1)
    preset: Preset = "json"
    mapping: MappingSettings
    labels_topic: str | None = None
    labels_mapping: MappingSettings | None = None
    pairing: PairingSettings = Field(default_factory=PairingSettings)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a source name is 1-64 letters, digits, '.', '_' or '-'")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.mapping.features is None:
            raise ValueError("mapping.features is required")
        if self.mapping.label is not None:
            raise ValueError("mapping.label belongs in labels_mapping")
        if (self.labels_topic is None) != (self.labels_mapping is None):
            raise ValueError("labels_topic and labels_mapping go together")
        lm = self.labels_mapping
        if lm is not None and (lm.label is None or lm.inference_id is None):
            raise ValueError("labels_mapping needs label and inference_id")
        return self


def check_sources(sources: Sequence[SourceSettings], own_topics: set[str]) -> None:
    """ValueError naming the key when two sources share a name or a topic, or one reads streamdrift's own."""
    names = [src.name for src in sources]
    topics = [src.topic for src in sources]
    for i, src in enumerate(sources):
        if src.name in names[:i]:
            raise ValueError(f"sources.{i}.name: {src.name!r} names two sources")
        if src.topic in topics[:i]:
            raise ValueError(f"sources.{i}.topic: {src.topic!r} is the topic of two sources")
        for key, topic in (("topic", src.topic), ("labels_topic", src.labels_topic)):
            if topic is not None and topic in own_topics:
                raise ValueError(f"sources.{i}.{key}: {topic!r} is one of streamdrift's own topics")
