"""Hostile input files and tampered baselines through the CLI: a one-line error naming file and line (exit 2),
never a traceback; ``--encoding`` reads a declared encoding."""

from __future__ import annotations

import base64
import gzip
import struct
import zlib
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from streamdrift.baseline.baseline import Baseline
from streamdrift.cli import main
from streamdrift.profile.sketches import HEADER_SIZE

ROWS = "colour,size\n" + "".join(f"{c},{s}\n" for c, s in [("red", 1.5), ("green", 2.5), ("blue", 3.0)] * 40)


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200"})


def _refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.output, result.output


def _build(runner: CliRunner, source: Path, out: Path, *extra: str) -> Result:
    return runner.invoke(main, ["baseline", "build", "--input", str(source), "--model-id", "m", "--output",
                                str(out), *extra])


def test_build_refuses_an_endless_gzip_line(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "endless.csv.gz"
    source.write_bytes(gzip.compress(b"1.5," * (1 << 20)))  # 4 MiB, no line break
    _refused(_build(runner, source, tmp_path / "b.json"), "error: ", "endless.csv.gz, line 1:",
             "longer than 1048576 bytes")
    _refused(_build(runner, source, tmp_path / "b.json", "--max-line-bytes", "1000"), "longer than 1000 bytes")


def test_build_refuses_utf16_and_reads_it_with_encoding(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "utf16.csv"
    source.write_bytes(ROWS.replace("colour", "couleur_é").encode("utf-16"))
    _refused(_build(runner, source, tmp_path / "b.json"), "UTF-16 byte-order mark", "--encoding utf-16")
    result = _build(runner, source, tmp_path / "b.json", "--encoding", "utf-16")
    assert result.exit_code == 0, result.output
    assert sorted(Baseline.load(tmp_path / "b.json").profile.features) == ["couleur_é", "size"]


def test_check_and_report_refuse_a_stray_quote_with_its_line(runner: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(ROWS)
    assert _build(runner, good, tmp_path / "b.json").exit_code == 0
    stray = tmp_path / "stray.csv"
    stray.write_text(ROWS.replace("green,2.5\n", 'green,"2.5\n', 1))
    _refused(runner.invoke(main, ["check", "--baseline", str(tmp_path / "b.json"), "--input", str(stray),
                                  "--output", str(tmp_path / "out"), "--window-records", "50"]),
             "stray.csv, line 3:", "quoted field")
    _refused(runner.invoke(main, ["report", "--baseline", str(tmp_path / "b.json"), "--input", str(stray),
                                  "--output", str(tmp_path / "r.html")]), "stray.csv, line 3:")


def test_show_check_report_refuse_a_tampered_sketch_naming_the_feature(runner: CliRunner, tmp_path: Path) -> None:
    """Before: a frequent item altered into invalid UTF-8 (valid CRC) gave ``RuntimeError: std::bad_cast``
    tracebacks in ``baseline show``, ``check`` and ``report``."""
    good = tmp_path / "good.csv"
    good.write_text(ROWS)
    assert _build(runner, good, tmp_path / "b.json").exit_code == 0
    document = orjson.loads((tmp_path / "b.json").read_bytes())
    blob = bytearray(base64.b64decode(document["profile"]))
    at = blob.index(b"green")
    blob[at] = 0xC3  # a UTF-8 lead byte followed by ASCII
    struct.pack_into("<I", blob, HEADER_SIZE - 4, zlib.crc32(bytes(blob[HEADER_SIZE:])))
    document["profile"] = base64.b64encode(bytes(blob)).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(orjson.dumps(document))
    message = ("feature 'colour'", "not UTF-8")
    _refused(runner.invoke(main, ["baseline", "show", str(tampered)]), *message)
    _refused(runner.invoke(main, ["check", "--baseline", str(tampered), "--input", str(good), "--output",
                                  str(tmp_path / "out"), "--window-records", "50"]), *message)
    _refused(runner.invoke(main, ["report", "--baseline", str(tampered), "--input", str(good), "--output",
                                  str(tmp_path / "r.html")]), *message)
