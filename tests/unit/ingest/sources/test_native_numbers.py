"""The native reader's numbers (native/src/fastjson.rs: each validated and converted in one pass by lexical-core's
JSON number format) are orjson's exactly: FP32 tensors written as doubles, doubles of every magnitude, short and long
decimals, exponents, signs, leading and trailing zeros, values halfway between two doubles, subnormals; and a number
that is not JSON (RFC 8259) is not read at all: the poll is left to the Python paths, which refuse it as orjson does."""

from __future__ import annotations

import struct

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdrift import _native

_FLAT = 1  # read_source_poll's kind for a flat list of numbers


def _read(texts: list[str]) -> None:
    """``texts`` as one JSON array read by the native reader (float64), checked against orjson's values."""
    value = ("[" + ",".join(texts) + "]").encode()
    got = _native.read_source_poll([b'{"x": ' + value + b"}"], [([("x", -1, False)], _FLAT, 0)], None, 1 << 24,
                                   1 << 30)
    assert got is not None
    numbers = np.frombuffer(got[0][0], dtype=np.float64)
    want = np.array(orjson.loads(value), dtype=np.float64)
    assert numbers.view(np.int64).tolist() == want.view(np.int64).tolist()  # bit for bit: -0.0 too


def test_numbers_that_are_not_json_leave_the_poll_to_python() -> None:
    for text in ["01", "-01", "00.5", "+1", ".5", "-.5", "1.", "1.e5", "1e", "1e+", "-", "NaN", "Infinity", "-inf",
                 "0x10", "1_000", "1e400", "-1.8e308"]:
        value = f"[{text}, 2.5]".encode()
        got = _native.read_source_poll([b'{"x": ' + value + b"}"], [([("x", -1, False)], _FLAT, 0)], None, 1 << 24,
                                       1 << 30)
        assert got is None, text
    _read(["0", "-0", "7", "-9223372036854775808", "9223372036854775807", "18446744073709551615", "1E+2", "1e-400",
           "-1e-99999999", "1.0e0000000000000000001"])


def test_fp32_tensors_written_as_doubles() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(size=20_000), rng.normal(scale=1e-6, size=5_000),
                             rng.lognormal(sigma=20, size=5_000) * rng.choice([-1, 1], 5_000)])
    data = values.astype(np.float32).round(4).tolist() + values.astype(np.float32).tolist()
    _read([orjson.dumps(v).decode() for v in data])
    bits = rng.integers(0, 2**32, size=20_000, dtype=np.uint64)
    floats = [struct.unpack("<f", struct.pack("<I", int(b)))[0] for b in bits]
    _read([orjson.dumps(f).decode() for f in floats if np.isfinite(f)])


def test_doubles_and_decimals_of_every_form() -> None:
    rng = np.random.default_rng(11)
    doubles = rng.integers(0, 0x7FF0_0000_0000_0000, size=20_000, dtype=np.int64).view(np.float64)
    texts = [repr(float(x)) for x in doubles] + [f"{x:.17e}" for x in doubles[:5_000]]
    for digits in range(1, 22):
        mantissas = [m * 10 ** max(0, digits - 18) for m in rng.integers(0, 10**min(digits, 18), size=500).tolist()]
        exponents = rng.integers(-40, 70, size=500).tolist()
        texts += [f"{'-' if m % 3 == 0 else ''}{m}e{e}" for m, e in zip(mantissas, exponents, strict=True)]
        texts += [f"0.{'0' * (e % 12)}{m}" for m, e in zip(mantissas, exponents, strict=True)]
        texts += [f"{m}.{'0' * (e % 5)}1E+{e % 30}" for m, e in zip(mantissas, exponents, strict=True)]
    _read(texts)


def test_halfway_points_and_edges() -> None:
    rng = np.random.default_rng(3)
    texts = ["0.0", "-0.0", "0e5", "-0e-5", "5e-324", "2.2250738585072014e-308", "2.2250738585072011e-308",
             "1.7976931348623157e308", "1e-400", "9007199254740993.0", "90071992547409930e-1",
             "9007199254740992.5", "0.1", "0.30000000000000004", "1e23", "8.98846567431158e307", "1e22", "1e-22",
             "4.9406564584124654e-324", "123456789012345678e-10", "1234567890123456789e-19",
             "12345678901234567890e-20", "0.000000000000000000000000001234", "1" + "0" * 30 + ".5"]
    for _ in range(3_000):  # odd multiples of half an ulp: exactly halfway between two doubles
        m = int(rng.integers(2**52, 2**53))
        shift = int(rng.integers(0, 11))
        half = ((m << 1) | 1) << shift
        texts += [f"{half}.0", f"{half}0e-1", f"{half >> 1}.5" if shift == 0 else f"{half}e0"]
    _read(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_any_double_reads_as_orjson_reads_it(values: list[float]) -> None:
    _read([orjson.dumps(v).decode() for v in values])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.text("0123456789", min_size=1, max_size=24),
                          st.text("0123456789", max_size=24), st.one_of(st.none(), st.integers(-400, 400))),
                min_size=1, max_size=30))
def test_any_decimal_text_reads_as_orjson_reads_it(parts: list[tuple[bool, str, str, int | None]]) -> None:
    texts = []
    for minus, whole, fraction, exponent in parts:
        whole = whole.lstrip("0") or "0"  # JSON: no leading zero
        text = f"{'-' if minus else ''}{whole}{'.' + fraction if fraction else ''}"
        texts.append(text if exponent is None else f"{text}e{exponent}")
    try:
        orjson.loads(("[" + ",".join(texts) + "]").encode())
    except orjson.JSONDecodeError:
        return  # beyond a double (orjson refuses it too)
    if any(abs(v) == float("inf") for v in orjson.loads(("[" + ",".join(texts) + "]").encode())):
        return
    _read(texts)
