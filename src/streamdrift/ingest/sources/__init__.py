"""Capture sources: topics a team already has, read through a mapping (docs/sources.md).

:mod:`~streamdrift.ingest.sources.config` holds the settings section (``sources:``), :mod:`.pointer` the JSON
pointers, :mod:`.presets` the table of wire formats (plain JSON, Open Inference Protocol v2, KServe CloudEvents,
SageMaker data capture), :mod:`.pairing` the request/response pairing and :mod:`.engine` the one mapping engine
that turns a poll of messages into :class:`~streamdrift.columns.chunks.CaptureBatch` es plus dead letters.
"""
