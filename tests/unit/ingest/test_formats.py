"""The table of input formats: detection, readers and CLI choices all come from it; adding a format is one entry
plus its reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import click
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.cli.baseline import build
from streamdrift.cli.check import check
from streamdrift.cli.report import report
from streamdrift.columns.chunks import Chunk
from streamdrift.columns.columns import columns_from_rows
from streamdrift.errors import InputFileError
from streamdrift.ingest import formats
from streamdrift.ingest.files import FORMATS, ReadOptions, detect_format, iter_chunks
from streamdrift.ingest.files.csvblocks import open_quote
from streamdrift.ingest.formats import (
    INPUT_FORMATS,
    InputFormat,
    format_for_suffix,
    format_names,
    input_format,
)

CAPTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sagemaker" / "capture" / "captured-data.jsonl"


def test_every_entry_loads_a_reader() -> None:
    for fmt in INPUT_FORMATS:
        reader = fmt.load_reader()
        assert callable(reader.read) and callable(reader.sniff), fmt.name
    assert FORMATS == format_names() == ("csv", "jsonl", "parquet", "sagemaker-capture")
    assert format_names(labels=True) == ("csv", "jsonl", "parquet")


@pytest.mark.parametrize(("name", "expected"), [
    ("a.csv", "csv"), ("a.TSV", "csv"), ("a.txt.gz", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson.gz", "jsonl"),
    ("a.json", "jsonl"), ("a.parquet", "parquet"), ("a.pq", "parquet"), ("a.xlsx", None), ("noext", None),
])
def test_suffixes_come_from_the_table(name: str, expected: str | None) -> None:
    fmt = format_for_suffix(name)
    assert (fmt.name if fmt else None) == expected


def test_capture_claims_json_lines_by_content(tmp_path: Path) -> None:
    assert detect_format(CAPTURE) == "sagemaker-capture"
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"x": 1}\n')
    assert detect_format(plain) == "jsonl"
    with pytest.raises(InputFileError, match="csv, jsonl, parquet, sagemaker-capture"):
        detect_format(tmp_path / "data.xlsx")
    with pytest.raises(InputFileError, match="unknown input format 'xlsx'"):
        input_format("xlsx")


def test_every_format_option_offers_the_table() -> None:
    def choices(command: click.Command, option: str) -> list[str]:
        (param,) = [p for p in command.params if p.name == option]
        assert isinstance(param.type, click.Choice)
        return list(param.type.choices)

    for command in (build, check, report):
        assert choices(command, "fmt") == list(format_names()), command.name
    assert choices(check, "labels_fmt") == list(format_names(labels=True))


class _SemicolonReader:
    """A toy format for the test: ``name;value`` lines."""

    def sniff(self, path: Path, options: ReadOptions) -> bool:
        return True

    def read(self, path: Path, options: ReadOptions) -> Iterator[Chunk]:
        rows = [dict([line.split(";")]) for line in path.read_text().splitlines()]
        yield Chunk(columns_from_rows(rows), None, None, np.arange(1, len(rows) + 1), path.stat().st_size)


READER: Final[_SemicolonReader] = _SemicolonReader()


def test_a_new_format_is_one_table_entry_and_its_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = InputFormat("semicolon", (".scsv",), f"{__name__}:READER", "name;value lines")
    monkeypatch.setattr(formats, "INPUT_FORMATS", (*INPUT_FORMATS, entry))
    path = tmp_path / "data.scsv"
    path.write_text("x;1\nx;2\ny;z\n")
    assert detect_format(path) == "semicolon"
    (chunk,) = iter_chunks(path)
    assert chunk.columns.n_rows == 3 and sorted(chunk.columns.columns) == ["x", "y"]


def _reference(data: bytes, inside: bool) -> tuple[bool, int]:
    """pyarrow's quoting, byte by byte: (open at the end, offset of the quote that opened it or -1)."""
    state, opened, at_start, i = ("quoted" if inside else "unquoted"), -1, True, 0
    while i < len(data):
        c = data[i:i + 1]
        if state == "quoted":
            if c == b'"':
                if data[i + 1:i + 2] == b'"':
                    i += 1
                else:
                    state, opened = "unquoted", -1
            at_start = False
        elif c == b'"' and at_start:
            state, opened, at_start = "quoted", i, False
        else:
            at_start = c in b",\n\r"
        i += 1
    return state == "quoted", opened


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b'"', b"\n", b'""', b"\r"]), max_size=40), st.booleans())
def test_open_quote_matches_pyarrows_rules(pieces: list[bytes], inside: bool) -> None:
    data = b"".join(pieces)
    assert open_quote(data, b",", inside) == _reference(data, inside)
