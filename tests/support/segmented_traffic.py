"""Traffic in segments (regions) for the segment tests, the parity test and bench_segments: a few normal features
and a categorical ``region``; a shift confined to one region."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from numpy.typing import NDArray

FEATURES = ("x0", "x1", "x2", "x3")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def regions(n_segments: int) -> list[str]:
    return [f"r{i:02d}" for i in range(n_segments)]


def segmented(rng: np.random.Generator, n: int, n_segments: int, *, shifted: str | None = None,
              shift_sd: float = 0.0, share: float | None = None) -> dict[str, NDArray[np.generic]]:
    """``n`` rows over ``n_segments`` regions (equal shares, or ``share`` for ``shifted`` and equal shares of the
    rest); feature ``x0`` of the ``shifted`` region moved by ``shift_sd`` standard deviations."""
    names = regions(n_segments)
    p = np.full(n_segments, 1.0 / n_segments)
    if shifted is not None and share is not None:
        i = names.index(shifted)
        p[:] = (1.0 - share) / (n_segments - 1)
        p[i] = share
    region = np.array(names, dtype=object)[rng.choice(n_segments, size=n, p=p)]
    out: dict[str, NDArray[np.generic]] = {"region": region}
    for j, name in enumerate(FEATURES):
        out[name] = rng.normal(10.0 * j, 1.0 + j, n)
    if shifted is not None:
        out["x0"] = out["x0"] + np.where(region == shifted, shift_sd * 1.0, 0.0)
    return out


def capture_lines(data: dict[str, NDArray[np.generic]], model: str, hour: int, prefix: str) -> list[bytes]:
    """Capture records (JSON Lines) spread over hour ``hour`` after :data:`T0`, sorted by time."""
    n = len(data["region"])
    offsets = np.sort(np.random.default_rng(1000 + hour).integers(0, 3_600_000_000, n))
    lines = []
    for i in range(n):
        stamp = T0 + timedelta(hours=hour, microseconds=int(offsets[i]))
        features = {k: (v[i] if k == "region" else float(v[i])) for k, v in data.items()}
        lines.append(orjson.dumps({"model_id": model, "inference_id": f"{prefix}{hour}-{i}",
                                   "timestamp": stamp.isoformat(), "features": features}) + b"\n")
    return lines


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path
