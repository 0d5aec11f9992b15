"""A generated table shaped like a real one (issue 20: 23,432 US house listings): a UUID id, an ISO-8601 event
time, a heavy-tailed price (lognormal with a few listings at 4.3e7), sqft, few-integer bedrooms / bathrooms, a
54-value state, an 83-value county, 900 cities, a 4,838-value zipcode (digits: read as integers from CSV), a
bimodal year_built, an exponential lot_acres, a constant column and a 5,000-value categorical ``product`` (Zipf-like shares).

``shift`` moves rows the way the issue's checks do: ``state`` / ``zipcode`` / ``product`` put 10% of the rows on
one mid-ranked value, ``price`` scales prices by 1.3.
"""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

N_ROWS = 23_432
STATES = tuple(f"S{i:02d}" for i in range(54))
COUNTIES = tuple(f"County {i}" for i in range(83))
PRODUCTS = tuple(f"p{i:04d}" for i in range(5000))
SHIFTED_STATE = STATES[30]
SHIFTED_PRODUCT = PRODUCTS[40]


def _zipf(n_values: int, exponent: float) -> NDArray[np.float64]:
    p = np.arange(1, n_values + 1, dtype=np.float64) ** -exponent
    out: NDArray[np.float64] = p / p.sum()
    return out


def _moved(values: NDArray[np.object_], target: str, rng: np.random.Generator) -> NDArray[np.object_]:
    return np.where(rng.random(values.size) < 0.10, target, values).astype(object)


def house_table(n: int = N_ROWS, seed: int = 1, shift: str | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    layout = np.random.default_rng(12345)  # the value sets (zip codes) are the same for every seed
    zips = np.asarray([f"{z:05d}" for z in layout.choice(99_999, 4838, replace=False)], dtype=object)
    state = rng.choice(np.asarray(STATES, dtype=object), n, p=_zipf(54, 1.1))
    zipcode = rng.choice(zips, n, p=_zipf(4838, 0.8))
    product = rng.choice(np.asarray(PRODUCTS, dtype=object), n, p=_zipf(5000, 1.0))
    price = np.round(rng.lognormal(12.8, 0.9, n), -2)
    price[rng.random(n) < 0.001] = 4.3e7
    if shift == "state":
        state = _moved(state, SHIFTED_STATE, rng)
    elif shift == "zipcode":
        zipcode = _moved(zipcode, str(zips[2000]), rng)
    elif shift == "product":
        product = _moved(product, SHIFTED_PRODUCT, rng)
    elif shift == "price":
        price = price * 1.3
    elif shift is not None:
        raise ValueError(f"unknown shift {shift!r}")
    start = np.datetime64("2024-01-01T00:00:00", "s")
    event = (start + rng.integers(0, 86_400 * 90, n).astype("timedelta64[s]")).astype(str)
    old = rng.random(n) < 0.4
    return pa.table({
        "id": [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)],
        "event_time": [f"{e}Z" for e in event],
        "price": price,
        "sqft": np.round(np.clip(rng.lognormal(7.5, 0.4, n), 300, 20_000)),
        "bedrooms": np.clip(rng.poisson(3, n), 0, 12),
        "bathrooms": np.clip(rng.poisson(2, n), 1, 8),
        "lot_acres": np.round(rng.exponential(0.3, n), 3),
        "year_built": np.where(old, rng.normal(1925, 8, n), rng.normal(1995, 10, n)).round().astype(np.int64),
        "city": rng.choice(np.asarray([f"City {i}" for i in range(900)], dtype=object), n),
        "state": state,
        "county": rng.choice(np.asarray(COUNTIES, dtype=object), n, p=_zipf(83, 1.0)),
        "zipcode": zipcode,
        "product": product,
        "constant": np.full(n, 1, dtype=np.int64),
    })
