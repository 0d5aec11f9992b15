"""One exception hierarchy for streamdrift.

Every error we raise on purpose derives from :class:`StreamdriftError`, so callers (the CLI, the
worker loop) can tell our clear, expected errors from bugs. Kafka errors keep their librdkafka code.
"""

from __future__ import annotations


class StreamdriftError(Exception):
    """Base class of every error streamdrift raises on purpose."""


class ConfigError(StreamdriftError):
    """Settings are missing, contradictory or malformed."""


class SerializationError(StreamdriftError):
    """A stored blob (sketch, profile, partial, baseline) cannot be read back."""


class CorruptBlobError(SerializationError):
    """The bytes are truncated, garbled or not a streamdrift blob at all."""


class VersionMismatchError(SerializationError):
    """The blob was written by a format version this build does not read."""


class ParameterMismatchError(SerializationError):
    """The blob's sketch parameters (kind, k, lg_max_k, ...) differ from what was expected."""


class MergeError(StreamdriftError):
    """Two states cannot be merged (different kinds, schemas or parameters)."""


class JoinStoreError(StreamdriftError):
    """The label join store's spill (SQLite file or segment files) cannot be opened or written."""


class BadRecordError(StreamdriftError):
    """An input record is unusable. ``reason`` is a short machine-readable tag used in metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class InputFileError(StreamdriftError):
    """An input file cannot be read (format unknown, unreadable, no usable rows).

    ``path`` and ``line`` (1-based) say where, when known; the message then starts with them."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = ", ".join(w for w in (self.path, None if line is None else f"line {line}") if w)
        super().__init__(f"{where}: {message}" if where else message)


class InputEncodingError(InputFileError):
    """An input file is not UTF-8 (a UTF-16/32 byte-order mark, NUL bytes, invalid UTF-8) and no encoding that
    reads it was declared, or it is not valid in the declared encoding."""


class LineTooLongError(InputFileError):
    """An input line (or a CSV record) is longer than the configured limit; it is not loaded whole."""


class UnclosedQuoteError(InputFileError):
    """A quoted CSV field opens and does not close (a stray quote): rows after it would merge into it."""


class BaselineError(StreamdriftError):
    """A baseline file or SageMaker statistics/constraints document is invalid."""


class EvaluationError(StreamdriftError):
    """A window cannot be evaluated against its baseline."""


class KafkaError(StreamdriftError):
    """A Kafka operation failed. ``code`` is librdkafka's error code (``confluent_kafka.KafkaError.code()``)."""

    def __init__(self, message: str, code: int | None = None, retriable: bool = False, fatal: bool = False) -> None:
        self.code = code
        self.retriable = retriable
        self.fatal = fatal
        super().__init__(f"{message} (code={code})" if code is not None else message)


class PartialsTooLargeError(KafkaError):
    """The broker refused a partials message as too large: the partials topic takes less than
    ``limits.max_partial_bytes``. ``limit``: the size the data plane is rebuilt with (half the refused one)."""

    def __init__(self, message: str, limit: int) -> None:
        self.limit = limit
        super().__init__(message)


class BrokerError(StreamdriftError):
    """The local development broker could not be fetched, started or stopped."""
