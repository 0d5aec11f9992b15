"""Type stub of the native capture-record reader (``native/src/lib.rs``)."""

from typing import TypeAlias

# (float64 bytes: NaN where not a number, uint8 bytes: the Kind of each row, the text rows or None)
RawColumn: TypeAlias = tuple[bytearray, bytearray, list[str | None] | None]
RawTable: TypeAlias = tuple[list[str], list[RawColumn]]
RawGroup: TypeAlias = tuple[
    str, str | None, bytearray, bytearray, list[str | None], RawTable, RawColumn | None, bytearray | None,
    RawTable | None,
]

def read_capture_records(
    values: list[bytes], max_message_bytes: int, max_total_bytes: int
) -> list[RawGroup] | None: ...

def read_label_records(
    values: list[bytes], max_message_bytes: int, max_total_bytes: int
) -> tuple[list[str], list[str], bytearray, RawColumn] | None: ...
