"""Text input in constant memory: decompression, encodings, and whole lines of bounded length.

:class:`TextSource` turns a file into UTF-8 chunks: gzip input (detected by its magic bytes) is decompressed a
chunk at a time; a UTF-8 byte-order mark is stripped; another declared encoding (``encoding``) is decoded;
without one, a UTF-16 / UTF-32 byte-order mark, a NUL byte or bytes that are not UTF-8 are refused with
:class:`InputEncodingError` naming the line. :class:`LineReader` cuts the chunks into whole lines, each at most
``max_line_bytes`` long: a longer line raises :class:`LineTooLongError` as soon as that many bytes are buffered,
so no input (a gzip file of one endless line, say) is ever held whole. Damaged gzip input is an
:class:`InputFileError`.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self, cast

from streamdrift.errors import InputEncodingError, InputFileError, LineTooLongError
from streamdrift.ingest.formats import DEFAULT_MAX_LINE_BYTES

_READ_SIZE: Final[int] = 1 << 18
_COMPACT_AT: Final[int] = 1 << 20
_GZIP_MAGIC: Final[bytes] = b"\x1f\x8b"
# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
_BOMS: Final[tuple[tuple[bytes, str], ...]] = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_UTF8: Final[frozenset[str]] = frozenset({"utf-8", "utf-8-sig"})
_ENCODING_HINT: Final[str] = "pass its encoding (CLI: --encoding, e.g. latin-1, cp1252, utf-16) or convert it to UTF-8"


def codec_name(encoding: str) -> str:
    """Python's canonical name of ``encoding`` (``latin1`` -> ``iso8859-1``); InputEncodingError if unknown."""
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise InputEncodingError(f"unknown encoding {encoding!r}") from exc


class ChunkEncodingError(InputEncodingError):
    """What :meth:`TextSource.read` found wrong, and after how many line breaks of its chunk: the
    :class:`LineReader` reading the source raises it again naming the line (lines are counted once, where they
    are consumed)."""

    def __init__(self, message: str, newlines: int, path: Path) -> None:
        super().__init__(message, path=path)
        self.message = message
        self.newlines = newlines


class TextSource:
    """The UTF-8 bytes of a (possibly gzip-compressed) text file, chunk by chunk (see the module docs; read it
    through a :class:`LineReader`). ``position``: the bytes read from the file itself (compressed bytes for gzip
    input), for progress reports.
    """

    def __init__(self, path: Path, encoding: str | None = None) -> None:
        self.path = path
        try:
            self._raw: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise InputFileError(f"cannot open: {exc}", path=path) from exc
        try:
            self._gzip = self._raw.read(2) == _GZIP_MAGIC
            self._raw.seek(0)
            self._stream: IO[bytes] = (cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="rb")) if self._gzip
                                       else self._raw)
            self._head = self._read_raw(4)
            self._decoder: codecs.IncrementalDecoder | None = None
            self._utf8 = codecs.getincrementaldecoder("utf-8")()
            self._setup(encoding)
        except BaseException:
            self.close()
            raise
        self._eof = False

    def _setup(self, encoding: str | None) -> None:
        declared = None if encoding is None else codec_name(encoding)
        found = next(((bom, name) for bom, name in _BOMS if self._head.startswith(bom)), None)
        if declared is None or declared in _UTF8:
            if found is not None and found[1] != "utf-8":
                raise InputEncodingError(
                    f"the file starts with a {found[1].upper()} byte-order mark: it is not UTF-8; pass "
                    f"encoding={found[1]!r} (CLI: --encoding {found[1]}) or convert it to UTF-8", path=self.path, line=1)
            if found is not None:
                self._head = self._head[len(found[0]):]
            return
        if found is not None and found[1] == "utf-8":
            raise InputEncodingError(f"the file starts with a UTF-8 byte-order mark but encoding {declared!r} was "
                                     "declared", path=self.path, line=1)
        self._declared = declared
        self._decoder = codecs.getincrementaldecoder(declared)("strict")
        self._first_text = True

    def _read_raw(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            what = "damaged or truncated gzip data" if self._gzip else "cannot read"
            raise InputFileError(f"{what}: {exc}", path=self.path) from exc

    @property
    def position(self) -> int:
        return self._raw.tell()

    def read(self) -> bytes:
        """The next chunk of UTF-8 bytes (b"" at the end); raises :class:`ChunkEncodingError`."""
        if self._eof:
            return b""
        data = self._head + self._read_raw(_READ_SIZE)
        self._head = b""
        final = not data
        self._eof = final
        if self._decoder is None:
            self._refuse_nul(data)  # first: UTF-16 text without a mark is mostly valid UTF-8
            chunk = self._validate(data, final)
        else:
            chunk = self._decode(data, final)
            self._refuse_nul(chunk)
        return chunk

    def _refuse_nul(self, data: bytes) -> None:
        at = data.find(b"\0")
        if at >= 0:
            raise ChunkEncodingError("a NUL byte: the file is UTF-16 or UTF-32 without a byte-order mark, or "
                                     f"binary; {_ENCODING_HINT}", data.count(b"\n", 0, at), self.path)

    def _validate(self, data: bytes, final: bool) -> bytes:
        try:
            self._utf8.decode(data, final)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start:exc.start + 1].hex()
            raise ChunkEncodingError(f"not UTF-8 text (byte 0x{bad}); {_ENCODING_HINT}",
                                     data.count(b"\n", 0, exc.start), self.path) from exc
        return data

    def _decode(self, data: bytes, final: bool) -> bytes:
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
            if self._first_text and text:
                text = text.removeprefix("\ufeff")  # utf-16-le / -be keep the mark; utf-16 / utf-32 drop it
                self._first_text = False
            return text.encode("utf-8")
        except UnicodeError as exc:
            raise ChunkEncodingError(f"not valid {self._declared} text ({exc})", 0, self.path) from exc

    def close(self) -> None:
        for handle in (getattr(self, "_stream", None), getattr(self, "_raw", None)):
            if handle is not None:
                handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class LineReader:
    """Whole lines of a :class:`TextSource`, each at most ``max_line_bytes`` long without its line break (else
    :class:`LineTooLongError` naming the line, raised before more than that is buffered). ``line`` is the number
    of the next line."""

    def __init__(self, source: TextSource, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise InputFileError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.source = source
        self.limit = max_line_bytes
        self.line = 1
        self._buf = bytearray()
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = self.source.read()
        except ChunkEncodingError as problem:
            line = self.line + self._buf.count(b"\n", self._pos) + problem.newlines
            raise InputEncodingError(problem.message, path=self.source.path, line=line) from problem
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _compact(self) -> None:
        if self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0

    def _too_long(self, start: int, at: int) -> LineTooLongError:
        line = self.line + self._buf.count(b"\n", self._pos, at)
        return LineTooLongError(f"the line is longer than {self.limit} bytes (the limit: max_line_bytes, CLI "
                                "--max-line-bytes); it is not read", path=self.source.path, line=line)

    def readline(self) -> bytes:
        """The next line with its line break (the last one may have none); b"" at the end."""
        self._compact()
        start = scan = self._pos
        while (nl := self._buf.find(b"\n", scan)) < 0:
            if len(self._buf) - start > self.limit:
                raise self._too_long(start, start)
            scan = len(self._buf)
            if not self._fill():
                nl = len(self._buf) - 1
                break
        end = nl + 1
        if end - start - 1 > self.limit:
            raise self._too_long(start, start)
        with memoryview(self._buf) as view:
            line = bytes(view[start:end])
        self._pos = end
        if line:
            self.line += 1
        return line

    def read_block(self, size: int) -> bytes:
        """Whole lines: from the next one through the line holding the ``size``-th byte (or to the end)."""
        self._compact()
        start = self._pos
        while len(self._buf) - start < size and self._fill():
            pass
        target = start + size - 1
        if target >= len(self._buf):
            end = len(self._buf)
        else:
            line_start = self._buf.rfind(b"\n", start, target) + 1 or start
            while (nl := self._buf.find(b"\n", target)) < 0:
                if len(self._buf) - line_start > self.limit:
                    raise self._too_long(start, line_start)
                target = len(self._buf)
                if not self._fill():
                    nl = len(self._buf) - 1
                    break
            end = nl + 1
        self._check_lines(start, end)
        with memoryview(self._buf) as view:
            block = bytes(view[start:end])
        self._pos = end
        self.line += block.count(b"\n") + (1 if block and not block.endswith(b"\n") else 0)
        return block

    def _check_lines(self, start: int, end: int) -> None:
        """Every line of ``buf[start:end]`` fits the limit: a line break at most limit + 1 bytes after each line
        start (a few backward searches per ``limit`` bytes, not one per line)."""
        at = start
        while end - at > self.limit:
            nl = self._buf.rfind(b"\n", at, at + self.limit + 1)
            if nl < 0:
                raise self._too_long(start, at)
            at = nl + 1


def first_lines(path: Path, n: int, *, encoding: str | None = None,
                max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[str]:
    """Up to ``n`` first lines of ``path`` as text (at most about two line limits in all), line breaks kept."""
    out: list[str] = []
    total = 0
    with TextSource(path, encoding) as source:
        lines = LineReader(source, max_line_bytes)
        while len(out) < n and total <= 2 * max_line_bytes and (line := lines.readline()):
            out.append(line.decode("utf-8"))
            total += len(line)
    return out
