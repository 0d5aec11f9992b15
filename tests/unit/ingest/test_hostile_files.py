"""Careless and hostile input files: stray quotes, endless lines, byte-order marks, other encodings, damaged
gzip. Each is read in linear time and bounded memory, or refused with an InputFileError naming file and line."""

from __future__ import annotations

import gzip
import signal
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from streamdrift.columns.chunks import BadLine
from streamdrift.errors import InputEncodingError, InputFileError, LineTooLongError, UnclosedQuoteError
from streamdrift.ingest.files import DEFAULT_MAX_LINE_BYTES, iter_chunks, iter_columns


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail the test (instead of hanging it) when the block runs longer than ``seconds``."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def numeric_csv(path: Path, n: int, edit: dict[int, str] | None = None) -> list[str]:
    """A header and ``n`` rows of three numbers; ``edit`` replaces rows by index (0 = first data row)."""
    values = np.random.default_rng(0).normal(size=(n, 3))
    lines = ["a,b,c"] + [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f}" for r in values]
    for index, text in (edit or {}).items():
        lines[index + 1] = text
    path.write_text("\n".join(lines) + "\n")
    return lines


def rows_of(path: Path, *, encoding: str | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> int:
    return sum(c.n_rows for c in iter_columns(path, encoding=encoding, max_line_bytes=max_line_bytes))


# ------------------------------------------------------------------------------------------- quotes


def test_a_stray_quote_is_an_error_naming_its_line(tmp_path: Path) -> None:
    """Before: 80,001 rows with one stray quote gave 73,404 (or, in the issue, 3,516) records and no warning."""
    path = tmp_path / "stray.csv"
    lines = numeric_csv(path, 80_000)
    lines[40_001] = '"' + lines[40_001]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UnclosedQuoteError, match="quoted field opens on this line") as caught:
        rows_of(path)
    assert (caught.value.path, caught.value.line) == (str(path), 40_002)


def test_a_stray_quote_far_from_the_end_is_refused_after_the_line_limit(tmp_path: Path) -> None:
    path = tmp_path / "stray.csv"
    numeric_csv(path, 20_000, {100: '1.0,"2.0,3.0'})
    with pytest.raises(UnclosedQuoteError, match="does not close within 4096 bytes") as caught:
        rows_of(path, max_line_bytes=4096)
    assert caught.value.line == 102


def test_two_stray_quotes_that_merge_rows_are_reported_with_the_lines_they_span(tmp_path: Path) -> None:
    """The rows between two stray quotes make one record: reported (when its cell count is wrong, as it is
    unless the quotes sit in the same column) as one bad line that says how many lines it swallowed."""
    path = tmp_path / "merged.csv"
    numeric_csv(path, 1000, {10: '1.0,"2.0,3.0', 14: '4.0",5.0,6.0'})
    bad: list[BadLine] = []
    n = sum(c.columns.n_rows for c in iter_chunks(path, on_bad_line=bad.append))
    assert n == 1000 - 5
    assert [(b.line_number, b.reason) for b in bad] == [(12, "wrong_column_count")]
    assert "spans 5 lines" in bad[0].detail


def test_quoted_fields_with_line_breaks_and_literal_quotes_still_read(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('id,text,x\n1,"two\nlines",1.5\n2,say ""hi"",2.5\n3,5"7,3.5\n4,"a,""b""",4.5\n')
    chunks = list(iter_columns(path))
    text = chunks[0].columns["text"].strings
    assert text is not None
    assert text.tolist() == ["two\nlines", 'say ""hi""', '5"7', 'a,"b"']
    assert chunks[0].columns["x"].numbers.tolist() == [1.5, 2.5, 3.5, 4.5]


def test_csv_time_is_linear_with_literal_quotes(tmp_path: Path) -> None:
    """Before: a quote inside an unquoted field made the block grow to the end of the file, its quotes recounted
    at every line: 300,000 rows took over 5 minutes."""
    path = tmp_path / "literal.csv"
    numeric_csv(path, 300_000, {10: '10.5"7,1.0,2.0'})
    with deadline(60):
        assert rows_of(path) == 300_000


def test_bad_rows_are_located_in_linear_time(tmp_path: Path) -> None:
    """Before: each bad row of a block was searched for from the block's start (quadratic in bad rows)."""
    path = tmp_path / "ragged.csv"
    n = 200_000
    numeric_csv(path, n, {i: "1.0,2.0" for i in range(1, n, 2)})
    bad: list[BadLine] = []
    with deadline(60):
        rows = sum(c.columns.n_rows for c in iter_chunks(path, on_bad_line=bad.append))
    assert rows == n // 2
    assert [b.line_number for b in bad[:3]] == [3, 5, 7]
    assert len(bad) == n // 2 and bad[-1].line_number == n + 1


# ------------------------------------------------------------------------------------------- long lines


def _endless_gzip(path: Path, megabytes: int) -> None:
    with gzip.open(path, "wb", compresslevel=9) as fh:
        piece = b"1.5," * (1 << 18)  # 1 MiB, no line break
        for _ in range(megabytes):
            fh.write(piece)


@pytest.mark.parametrize("name", ["endless.csv.gz", "endless.jsonl.gz"])
def test_gzip_without_line_breaks_is_refused_in_constant_memory(tmp_path: Path, name: str) -> None:
    """Before: a 1 MB .gz of one endless line took 2.3 GB and ended in a raw ``_csv.Error`` traceback."""
    path = tmp_path / name
    _endless_gzip(path, 64)
    tracemalloc.start()
    try:
        with pytest.raises(LineTooLongError, match="longer than 1048576 bytes") as caught:
            rows_of(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.line == 1
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB while refusing a 64 MiB line"


def test_max_line_bytes_bounds_every_line(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": "' + "x" * 5000 + '"}\n{"a": 4}\n')
    with pytest.raises(LineTooLongError) as caught:
        rows_of(path, max_line_bytes=1000)
    assert caught.value.line == 3
    assert rows_of(path, max_line_bytes=6000) == 4


# ------------------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(("name", "text"), [("bom.csv", "x,y\n1,2\n3,4\n"), ("bom.jsonl", '{"x": 1, "y": 2}\n')])
def test_a_utf8_byte_order_mark_is_stripped(tmp_path: Path, name: str, text: str) -> None:
    """Before: the mark became part of the first feature's name."""
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert list(next(iter_columns(path)).columns) == ["x", "y"]
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert list(next(iter_columns(gz)).columns) == ["x", "y"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_utf16_is_refused_unless_declared(tmp_path: Path, suffix: str) -> None:
    """Before: UTF-16 input gave garbage names and exit 0."""
    text = "température,ville\n21.5,Zürich\n19.0,Genève\n" if suffix == ".csv" else (
        '{"température": 21.5, "ville": "Zürich"}\n{"température": 19.0, "ville": "Genève"}\n')
    path = tmp_path / ("utf16" + suffix)
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(InputEncodingError, match=r"UTF-16 byte-order mark.*--encoding utf-16") as caught:
        rows_of(path)
    assert caught.value.line == 1
    columns = next(iter_columns(path, encoding="utf-16")).columns
    assert list(columns) == ["température", "ville"]
    strings = columns["ville"].strings
    assert strings is not None and strings.tolist() == ["Zürich", "Genève"]


def test_utf16_without_a_mark_is_refused_by_its_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "utf16le.csv"
    path.write_bytes("a,b\n1,2\n".encode("utf-16-le"))
    with pytest.raises(InputEncodingError, match="NUL byte"):
        rows_of(path)
    assert rows_of(path, encoding="utf-16-le") == 1


def test_latin1_is_refused_at_its_line_or_decoded_when_declared(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("city,n\nBern,1\nZürich,2\n".encode("latin-1"))
    with pytest.raises(InputEncodingError, match=r"not UTF-8 text \(byte 0xfc\)") as caught:
        rows_of(path)
    assert caught.value.line == 3
    strings = next(iter_columns(path, encoding="latin-1")).columns["city"].strings
    assert strings is not None and strings.tolist() == ["Bern", "Zürich"]


def test_an_invalid_byte_of_the_declared_encoding_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ascii.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xff\n")
    with pytest.raises(InputEncodingError, match="ascii"):
        rows_of(path, encoding="ascii")
    with pytest.raises(InputEncodingError, match="unknown encoding"):
        rows_of(path, encoding="no-such-codec")


# ------------------------------------------------------------------------------------------- gzip


def test_damaged_and_truncated_gzip_are_input_errors(tmp_path: Path) -> None:
    data = gzip.compress(("a,b\n" + "1,2\n" * 50_000).encode())
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="gzip"):
        rows_of(truncated)
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(data[:20] + bytes(200) + data[220:])
    with pytest.raises(InputFileError):
        rows_of(damaged)
