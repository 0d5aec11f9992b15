"""Tests of streamdrift.readers: CSV (header sniffing, gzip, chunks, bad rows), JSON Lines, Parquet, capture."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamdrift.columns.chunks import MISSING_TIMESTAMP, BadLine
from streamdrift.columns.columns import Columns, Kind
from streamdrift.errors import InputFileError
from streamdrift.ingest.files import (
    detect_format,
    iter_chunks,
    iter_columns,
    sniff_header,
    timestamps_from_arrow,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sagemaker"
DQ_CSV = FIXTURES / "data_quality" / "baseline_dataset.csv"
CAPTURE = FIXTURES / "capture" / "captured-data.jsonl"


def _concat(chunks: list[Columns], name: str) -> np.ndarray:
    return np.concatenate([c.columns[name].numbers for c in chunks])


def test_headerless_csv_gets_sagemaker_names_and_numeric_values() -> None:
    chunks = list(iter_columns(DQ_CSV))
    expected = np.loadtxt(DQ_CSV, delimiter=",")
    assert sum(c.n_rows for c in chunks) == expected.shape[0] == 100
    assert list(chunks[0].columns) == [f"_c{i}" for i in range(6)]
    for i in range(6):
        np.testing.assert_array_equal(_concat(chunks, f"_c{i}"), expected[:, i])
    kinds = np.concatenate([c.columns["_c0"].kinds for c in chunks])
    assert set(np.unique(kinds).tolist()) == {int(Kind.FRACTIONAL)}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["a,b,c\n", "1,2,3\n"], True),
        (["1,2,3\n", "4,5,6\n"], False),
        (["x,2.5,y\n", "z,3.5,w\n"], False),   # one numeric cell: data, not a header
        (["a,,c\n", "1,2,3\n"], False),        # empty header cell
        (["a,a,c\n", "1,2,3\n"], False),       # duplicate names
        ([], False),
    ],
)
def test_sniff_header(lines: list[str], expected: bool) -> None:
    assert sniff_header(lines) is expected


def _write_csv(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


CSV_TEXT = (
    "ts,id,x,color,flag\n"
    "2024-01-01T00:00:00Z,r1,1.5,red,true\n"
    "1704067201000,r2,,blue,false\n"
    "2024-01-01T00:00:02.500+00:00,r3,-2,red,true\n"
    "not-a-time,r4,7,,false\n"
)


@pytest.mark.parametrize("name", ["data.csv", "data.csv.gz"])
def test_csv_with_header_extras_and_missing_cells(tmp_path: Path, name: str) -> None:
    path = _write_csv(tmp_path / name, CSV_TEXT)
    (chunk,) = list(iter_chunks(path, timestamp_column="ts", id_column="id"))
    assert list(chunk.columns.columns) == ["x", "color", "flag"]
    assert chunk.timestamps is not None and chunk.ids is not None
    assert chunk.timestamps.tolist() == [1704067200000, 1704067201000, 1704067202500, MISSING_TIMESTAMP]
    assert chunk.ids.tolist() == ["r1", "r2", "r3", "r4"]
    assert chunk.line_numbers.tolist() == [2, 3, 4, 5]
    x = chunk.columns.columns["x"]
    np.testing.assert_array_equal(x.numbers, [1.5, np.nan, -2.0, 7.0])
    assert x.kinds[1] == Kind.MISSING
    color = chunk.columns.columns["color"]
    assert color.strings is not None and color.strings[0] == "red"
    assert color.kinds[3] == Kind.MISSING


def test_csv_exclude_and_no_header_override(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", "a,b\n1,2\n3,4\n")
    (cols,) = list(iter_columns(path, exclude=("a",)))
    assert list(cols.columns) == ["b"]
    (raw,) = list(iter_columns(path, has_header=False))
    assert list(raw.columns) == ["_c0", "_c1"] and raw.n_rows == 3
    assert raw.columns["_c0"].kinds[0] == Kind.STRING


def test_csv_chunks_cover_all_rows_in_order(tmp_path: Path) -> None:
    values = np.arange(20_000, dtype=np.int64)
    path = _write_csv(tmp_path / "big.csv", "v,w\n" + "".join(f"{v},{v % 7}\n" for v in values))
    chunks = list(iter_chunks(path, chunk_rows=1_000))
    assert len(chunks) > 5
    np.testing.assert_array_equal(np.concatenate([c.columns.columns["v"].numbers for c in chunks]), values)
    lines = np.concatenate([c.line_numbers for c in chunks])
    np.testing.assert_array_equal(lines, values + 2)
    positions = [c.bytes_read for c in chunks]
    assert positions == sorted(positions) and positions[-1] <= path.stat().st_size


def test_csv_bad_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "bad.csv", "a,b\n1,2\n3,4,5\n6,7\n")
    bad: list[BadLine] = []
    (cols,) = list(iter_columns_with_bad(path, bad))
    np.testing.assert_array_equal(cols.columns["a"].numbers, [1.0, 6.0])
    assert len(bad) == 1 and bad[0].reason == "wrong_column_count" and bad[0].line_number == 3


def iter_columns_with_bad(path: Path, bad: list[BadLine]) -> list[Columns]:
    return [c.columns for c in iter_chunks(path, on_bad_line=bad.append)]


def test_jsonl_capture_records_flattened_with_bad_lines(tmp_path: Path) -> None:
    records = [
        {"model_id": "m", "inference_id": f"i{i}", "timestamp": 1_700_000_000_000 + i,
         "features": {"x": float(i), "c": "ab"[i % 2]}, "prediction": i % 2}
        for i in range(5)
    ]
    lines = [orjson.dumps(r) for r in records]
    lines.insert(2, b"{not json")
    lines.insert(4, b"[1, 2]")
    path = tmp_path / "cap.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad: list[BadLine] = []
    chunks = list(iter_chunks(path, timestamp_column="timestamp", id_column="inference_id",
                              prediction_column="label", chunk_rows=2, on_bad_line=bad.append))
    assert [(b.line_number, b.reason) for b in bad] == [(3, "invalid_json"), (5, "not_an_object")]
    assert sum(c.columns.n_rows for c in chunks) == 5
    xs = np.concatenate([c.columns.columns["x"].numbers for c in chunks])
    np.testing.assert_array_equal(xs, np.arange(5.0))
    labels = np.concatenate([c.columns.columns["label"].numbers for c in chunks])
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0])
    ts = np.concatenate([c.timestamps for c in chunks if c.timestamps is not None])
    np.testing.assert_array_equal(ts, 1_700_000_000_000 + np.arange(5))
    ids = np.concatenate([c.ids for c in chunks if c.ids is not None])
    assert ids.tolist() == [f"i{i}" for i in range(5)]
    assert np.concatenate([c.line_numbers for c in chunks]).tolist() == [1, 2, 4, 6, 7]
    assert "model_id" not in chunks[0].columns.columns


def test_jsonl_flat_objects_missing_keys_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "flat.ndjson"
    path.write_bytes(b'{"a": 1, "b": "x"}\n\n{"a": 2}\n')
    (cols,) = list(iter_columns(path))
    assert cols.n_rows == 2
    b = cols.columns["b"]
    assert b.kinds.tolist() == [int(Kind.STRING), int(Kind.MISSING)]


def test_parquet_typed_columns_timestamps_and_exclude(tmp_path: Path) -> None:
    n = 2_500
    rng = np.random.default_rng(7)
    x = rng.normal(size=n)
    table = pa.table({
        "when": pa.array((np.arange(n) * 1000).astype("datetime64[ms]")),
        "x": x, "k": pa.array(rng.integers(0, 3, n)), "drop": np.zeros(n),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    chunks = list(iter_chunks(path, timestamp_column="when", exclude=("drop",), chunk_rows=1000))
    assert [c.columns.n_rows for c in chunks] == [1000, 1000, 500]
    assert list(chunks[0].columns.columns) == ["x", "k"]
    np.testing.assert_array_equal(np.concatenate([c.columns.columns["x"].numbers for c in chunks]), x)
    ts = np.concatenate([c.timestamps for c in chunks if c.timestamps is not None])
    np.testing.assert_array_equal(ts, np.arange(n) * 1000)
    assert chunks[-1].line_numbers[-1] == n


def test_sagemaker_capture_rows_per_instance() -> None:
    assert detect_format(CAPTURE) == "sagemaker-capture"
    (chunk,) = list(iter_chunks(CAPTURE))
    cols = chunk.columns
    assert cols.n_rows == 6
    np.testing.assert_array_equal(cols.columns["_c0"].numbers, [1.0, 2.0, 5.0] * 2)
    np.testing.assert_array_equal(cols.columns["prediction"].numbers, [3.5, 4.0, 5.5] * 2)
    assert chunk.timestamps is not None and chunk.ids is not None
    assert chunk.timestamps.tolist() == [1574580650000] * 3 + [1574580690000] * 3
    assert chunk.ids[0] == "12b73486-e916-45de-9d82-7fa23d4a39a6:0"
    assert chunk.line_numbers.tolist() == [1, 1, 1, 2, 2, 2]


def test_sagemaker_capture_csv_payload(tmp_path: Path) -> None:
    record = {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2.5,abc",
                              "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.75",
                               "encoding": "CSV"},
        },
        "eventMetadata": {"eventId": "e1", "inferenceId": "inf-1", "inferenceTime": "2024-05-01T00:00:00Z"},
        "eventVersion": "0",
    }
    path = tmp_path / "cap.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n" + b'{"captureData": {}}\n')
    bad: list[BadLine] = []
    (chunk,) = list(iter_chunks(path, prediction_column="score", on_bad_line=bad.append))
    cols = chunk.columns.columns
    assert cols["_c0"].numbers[0] == 1.0 and cols["_c1"].numbers[0] == 2.5
    assert cols["_c2"].strings is not None and cols["_c2"].strings[0] == "abc"
    assert cols["score"].numbers[0] == 0.75
    assert chunk.ids is not None and chunk.ids.tolist() == ["inf-1"]
    assert [b.reason for b in bad] == ["bad_capture_payload"]


def test_format_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        list(iter_columns(tmp_path / "missing.csv"))
    odd = tmp_path / "data.xyz"
    odd.write_text("1,2\n")
    with pytest.raises(InputFileError, match="format"):
        list(iter_columns(odd))
    with pytest.raises(InputFileError, match="unknown input format"):
        list(iter_columns(odd, fmt="excel"))
    assert sum(c.n_rows for c in iter_columns(odd, fmt="csv")) == 1
    with pytest.raises(InputFileError, match="nope"):
        list(iter_chunks(DQ_CSV, timestamp_column="nope"))


def test_timestamps_from_arrow_kinds() -> None:
    assert timestamps_from_arrow(pa.array([5, None], type=pa.int64())).tolist() == [5, MISSING_TIMESTAMP]
    text = pa.array(["2024-01-01T00:00:00+01:00", "17", None])
    assert timestamps_from_arrow(text).tolist() == [1704063600000, 17, MISSING_TIMESTAMP]


def _epoch_ms(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T00:00:06.047000+00:00", "2026-03-01T00:00:06.047+00:00"),  # Python isoformat() microseconds
    ("2026-03-01T00:00:06Z", "2026-03-01T00:00:06+00:00"),
    ("2026-03-01t00:00:06.1z", "2026-03-01T00:00:06.100+00:00"),
    ("2026-03-01T00:00:06.123456789+02:00", "2026-02-28T22:00:06.123+00:00"),
    ("2026-03-01T00:00:06.047999-01:30", "2026-03-01T01:30:06.047+00:00"),
    ("2026-03-01T00:00:06.5-0530", "2026-03-01T05:30:06.500+00:00"),
    ("2026-03-01 00:00:06.250", "2026-03-01T00:00:06.250+00:00"),  # no offset: UTC
    ("2026-03-01T00:00:06.0470001234567Z", "2026-03-01T00:00:06.047+00:00"),
])
def test_rfc3339_timestamps_of_any_precision(text: str, expected: str) -> None:
    want = _epoch_ms(datetime.fromisoformat(expected))
    assert timestamps_from_arrow(pa.array([text, "junk", None])).tolist() == [want, MISSING_TIMESTAMP,
                                                                             MISSING_TIMESTAMP]


def test_python_isoformat_timestamps_in_capture_jsonl(tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    stamps = [start + timedelta(seconds=6, microseconds=47_000 * i + 13) for i in range(5)]
    path = tmp_path / "capture.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"model_id": "m", "inference_id": f"i{i}", "timestamp": t.isoformat(),
                                            "features": {"x": i}}) + b"\n" for i, t in enumerate(stamps)))
    (chunk,) = list(iter_chunks(path, timestamp_column="timestamp"))
    assert chunk.timestamps is not None
    assert chunk.timestamps.tolist() == [_epoch_ms(t) for t in stamps]


def test_csv_timestamp_column_with_microseconds(tmp_path: Path) -> None:
    """pyarrow types such a column timestamp[ns]: it is truncated to milliseconds, not rejected."""
    path = _write_csv(tmp_path / "ts.csv", "ts,x\n2026-03-01T00:00:06.047999+00:00,1\n2026-03-01T00:00:07Z,2\n")
    (chunk,) = list(iter_chunks(path, timestamp_column="ts"))
    assert chunk.timestamps is not None
    start = _epoch_ms(datetime(2026, 3, 1, tzinfo=UTC))
    assert chunk.timestamps.tolist() == [start + 6_047, start + 7_000]


def test_csv_types_inferred_per_block_never_fail(tmp_path: Path) -> None:
    """A column that is numeric for the first blocks and textual later is read without error, cell by cell."""
    rows = [f"{i},{i}.0,{i % 2 == 0}\n" for i in range(3_000)] + ["oops,NaN,maybe\n"]
    path = _write_csv(tmp_path / "drift.csv", "n,f,b\n" + "".join(rows))
    chunks = list(iter_columns(path, chunk_rows=500))
    assert len(chunks) > 2
    n_kinds = np.concatenate([c.columns["n"].kinds for c in chunks])
    f_kinds = np.concatenate([c.columns["f"].kinds for c in chunks])
    b_kinds = np.concatenate([c.columns["b"].kinds for c in chunks])
    assert np.all(n_kinds[:3_000] == Kind.INTEGRAL) and n_kinds[-1] == Kind.STRING
    assert np.all(f_kinds[:3_000] == Kind.FRACTIONAL) and f_kinds[-1] == Kind.MISSING
    assert np.all(b_kinds[:3_000] == Kind.BOOLEAN) and b_kinds[-1] == Kind.STRING
    np.testing.assert_array_equal(np.concatenate([c.columns["f"].numbers for c in chunks])[:3_000],
                                  np.arange(3_000.0))


def test_csv_quoted_newlines_stay_in_one_block(tmp_path: Path) -> None:
    body = "".join(f'{i},"line one\nline two {i}"\n' for i in range(2_000))
    path = _write_csv(tmp_path / "q.csv", "id,text\n" + body)
    chunks = list(iter_columns(path, chunk_rows=100))
    texts = np.concatenate([c.columns["text"].strings for c in chunks if c.columns["text"].strings is not None])
    assert texts.size == 2_000 and texts[1_999] == "line one\nline two 1999"


def test_csv_dates_and_times_keep_their_text(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "dates.csv", "day,at,x\n2024-01-01,12:30:00,1\n2024-01-02,13:00:00,a,b\n"
                                              "2024-01-03,14:00:00,3\n")
    bad: list[BadLine] = []
    (cols,) = [c.columns for c in iter_chunks(path, on_bad_line=bad.append)]
    day, at = cols.columns["day"], cols.columns["at"]
    assert day.strings is not None and day.strings.tolist() == ["2024-01-01", "2024-01-03"]
    assert at.strings is not None and at.strings[1] == "14:00:00"
    assert [b.line_number for b in bad] == [3]
