"""TextSource / LineReader: whole lines, exact line numbers and the line limit, for any chunking of the input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift.errors import LineTooLongError
from streamdrift.ingest.files import text
from streamdrift.ingest.files.text import LineReader, TextSource, first_lines

line_st = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\0", b"").decode("latin-1")
                                     .encode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(line_st, max_size=40), trailing=st.booleans(), read_size=st.integers(1, 64),
       ops=st.lists(st.integers(0, 80), min_size=1, max_size=20), compressed=st.booleans())
def test_blocks_and_lines_cover_the_input_exactly(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes],
                                                  trailing: bool, read_size: int, ops: list[int],
                                                  compressed: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    path = tmp_path_factory.mktemp("t") / "x.txt"
    path.write_bytes(gzip.compress(data) if compressed else data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(text, "_READ_SIZE", read_size)
        out: list[bytes] = []
        with TextSource(path) as source:
            reader = LineReader(source, max_line_bytes=64)
            i = 0
            while True:
                before = reader.line
                size = ops[i % len(ops)]
                piece = reader.readline() if size == 0 else reader.read_block(size)
                i += 1
                if not piece:
                    break
                assert piece.endswith(b"\n") or len(b"".join(out)) + len(piece) == len(data)
                assert reader.line - before == piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
                out.append(piece)
    assert b"".join(out) == data


@pytest.mark.parametrize("read_size", [1, 7, 1 << 18])
def test_the_line_limit_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_size: int) -> None:
    monkeypatch.setattr(text, "_READ_SIZE", read_size)
    path = tmp_path / "x.txt"
    path.write_bytes(b"a\n" + b"b" * 100 + b"\nc\n")
    for method in ("readline", "read_block"):
        with TextSource(path) as source:
            reader = LineReader(source, max_line_bytes=100)
            got = [reader.readline() if method == "readline" else reader.read_block(1) for _ in range(4)]
        assert got == [b"a\n", b"b" * 100 + b"\n", b"c\n", b""]
        with TextSource(path) as source, pytest.raises(LineTooLongError) as caught:
            reader = LineReader(source, max_line_bytes=99)
            for _ in range(4):
                reader.readline() if method == "readline" else reader.read_block(1000)
        assert caught.value.line == 2


def test_first_lines_are_text_without_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\r\n1,2\r\n")
    assert first_lines(path, 5) == ["a,b\r\n", "1,2\r\n"]
