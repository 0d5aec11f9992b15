"""The PCA model of multivariate drift: encoding, components, reconstruction error, and its baseline section.

A record is encoded as the standardised numeric features (missing values at the baseline mean, i.e. 0) and, for
each categorical feature, one standardised indicator per frequent baseline category (``(1[x = c] - share) /
sqrt(share (1 - share))``). The principal components are the right singular vectors of the baseline's encoded
sample (numpy SVD), the first ones kept until they explain ``variance_share`` of the variance (at most all but
one, so a reconstruction error exists). A record's reconstruction error is the squared distance of its encoding
to the kept components' span, ``|z|^2 - |z V|^2``, computed for a whole batch at once.

The section (``Baseline.multivariate``, versioned) holds the encoding, the components, and the distribution of
the baseline's reconstruction errors: a KLL sketch (base64 blob), their count, mean and variance.
"""

from __future__ import annotations

import base64
import binascii
import functools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.columns.columns import Column, Columns
from streamdrift.errors import BaselineError, SerializationError
from streamdrift.monitors.base import check_section_version
from streamdrift.profile.sketches import KllSketch

SECTION_VERSION: Final[int] = 1
DEFAULT_VARIANCE_SHARE: Final[float] = 0.9


@dataclass(frozen=True)
class Encoding:
    """How records become standardised vectors (the PCA's input)."""

    numeric: tuple[str, ...]
    means: NDArray[np.float64]
    stds: NDArray[np.float64]
    categorical: tuple[tuple[str, tuple[str, ...]], ...]  # feature -> its encoded categories
    shares: NDArray[np.float64]  # baseline share of each encoded category, in order

    @property
    def width(self) -> int:
        return len(self.numeric) + int(self.shares.size)

    def encode(self, columns: Columns) -> NDArray[np.float64]:
        """The (rows x width) standardised matrix of a batch, column-major: each numeric column in place, each
        categorical feature's indicators gathered from a small table by its codes (no per-row loop)."""
        n = columns.n_rows
        out = np.zeros((n, self.width), order="F")
        for j, name in enumerate(self.numeric):
            col = columns.columns.get(name)
            if col is not None:
                target = out[:, j]
                np.subtract(col.numbers, self.means[j], out=target)
                target *= 1.0 / self.stds[j]
                np.copyto(target, 0.0, where=~np.isfinite(target))
        j = len(self.numeric)
        for (name, categories), table in zip(self.categorical, self._tables, strict=True):
            codes = _category_codes(columns.columns.get(name), categories)
            out[:, j:j + len(categories)] = table[-1] if codes is None else table[codes]
            j += len(categories)
        return out

    @functools.cached_property
    def _tables(self) -> tuple[NDArray[np.float64], ...]:
        """Per categorical feature, row c: the encoded indicators of category c; the last row: any other value."""
        out = []
        j = 0
        for _, categories in self.categorical:
            m = len(categories)
            shares = self.shares[j:j + m]
            scales = 1.0 / np.sqrt(shares * (1.0 - shares))
            table = np.vstack([np.eye(m), np.zeros((1, m))]) * scales - shares * scales
            out.append(table)
            j += m
        return tuple(out)


def _category_codes(col: Column | None, categories: tuple[str, ...]) -> NDArray[np.intp] | None:
    """Each row's index in ``categories`` (-1: another or none), in one vectorized pass: from a dictionary-encoded
    column's codes (a lookup per distinct value), else Arrow's hash lookup of the texts. None: no texts."""
    if col is None:
        return None
    if col.categories is not None:
        index = {c: k for k, c in enumerate(categories)}
        lut = np.array([index.get(str(v), -1) for v in col.categories.values.tolist()] + [-1], dtype=np.intp)
        codes: NDArray[np.intp] = lut[col.categories.codes]  # code -1 (no text) picks the trailing -1
        return codes
    if col.strings is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(pa.array(col.strings, type=pa.string()), value_set=pa.array(categories, type=pa.string()))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.intp)


@dataclass(frozen=True)
class PcaModel:
    encoding: Encoding
    components: NDArray[np.float64]  # width x k
    explained: float  # share of the baseline variance the kept components explain

    def errors(self, columns: Columns) -> NDArray[np.float64]:
        """Each record's reconstruction error (vectorized over the batch)."""
        return self.errors_of(self.encoding.encode(columns))

    def errors_of(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """``|z|^2 - |z V|^2``, computed as ``|z W|^2`` with ``W`` the orthonormal complement of the kept
        components (one small product instead of two)."""
        residual = z @ self.residual_basis
        out: NDArray[np.float64] = np.einsum("ij,ij->i", residual, residual)
        return out

    @functools.cached_property
    def residual_basis(self) -> NDArray[np.float64]:
        """An orthonormal basis (width x (width - k)) of the space the kept components leave out."""
        q, _ = np.linalg.qr(self.components, mode="complete")
        return np.ascontiguousarray(q[:, self.components.shape[1]:])

    @property
    def fingerprint(self) -> int:
        """A 31-bit digest of the model: window states of different models never merge."""
        digest = zlib.crc32(self.components.astype("<f8").tobytes())
        digest = zlib.crc32(self.encoding.means.astype("<f8").tobytes(), digest)
        return zlib.crc32(repr((self.encoding.numeric, self.encoding.categorical)).encode(), digest) & 0x7FFFFFFF


def fit_pca(z: NDArray[np.float64], variance_share: float = DEFAULT_VARIANCE_SHARE) -> tuple[NDArray[np.float64],
                                                                                            float]:
    """The kept components (width x k) of standardised rows ``z`` and the variance share they explain."""
    if not 0.0 < variance_share < 1.0:
        raise BaselineError(f"PCA variance share must be in (0, 1), got {variance_share}")
    if z.shape[1] < 2 or z.shape[0] < z.shape[1] + 1:
        raise BaselineError(f"multivariate drift needs at least 2 encoded features and more rows than features "
                            f"(got {z.shape[0]} rows x {z.shape[1]})")
    centred = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s * s
    total = float(var.sum())
    if total <= 0:
        raise BaselineError("multivariate drift: the encoded baseline has no variance")
    share = np.cumsum(var) / total
    k = min(int(np.searchsorted(share, variance_share) + 1), z.shape[1] - 1)
    return np.ascontiguousarray(vt[:k].T), float(share[k - 1])


@dataclass(frozen=True)
class MultivariateBaseline:
    """The ``multivariate`` section: the PCA model and the baseline's reconstruction-error distribution."""

    model: PcaModel
    variance_share: float
    sketch: KllSketch
    n: int
    mean: float
    variance: float

    def to_dict(self) -> dict[str, Any]:
        e = self.model.encoding
        return {
            "version": SECTION_VERSION, "variance_share": self.variance_share, "explained": self.model.explained,
            "numeric": [{"name": n, "mean": float(m), "std": float(s)} for n, m, s in zip(e.numeric, e.means, e.stds,
                                                                                          strict=True)],
            "categorical": [{"name": n, "categories": list(c)} for n, c in e.categorical],
            "shares": e.shares.tolist(), "components": self.model.components.tolist(),
            "errors": {"n": self.n, "mean": self.mean, "variance": self.variance,
                       "sketch": base64.b64encode(self.sketch.to_bytes()).decode("ascii")},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MultivariateBaseline:
        check_section_version(data, "multivariate", SECTION_VERSION)
        try:
            numeric = data["numeric"]
            encoding = Encoding(
                tuple(str(f["name"]) for f in numeric), np.array([float(f["mean"]) for f in numeric]),
                np.array([float(f["std"]) for f in numeric]),
                tuple((str(f["name"]), tuple(str(c) for c in f["categories"])) for f in data["categorical"]),
                np.asarray(data["shares"], dtype=np.float64).reshape(-1))
            components = np.asarray(data["components"], dtype=np.float64)
            if components.ndim != 2 or components.shape[0] != encoding.width or not 1 <= components.shape[1] \
                    < encoding.width:
                raise BaselineError(f"multivariate: components of shape {components.shape} do not fit "
                                    f"{encoding.width} encoded features")
            if sum(len(c) for _, c in encoding.categorical) != encoding.shares.size \
                    or not ((encoding.shares > 0) & (encoding.shares < 1)).all() or not (encoding.stds > 0).all():
                raise BaselineError("multivariate: invalid category shares or standard deviations")
            errors = data["errors"]
            sketch = KllSketch.from_bytes(base64.b64decode(errors["sketch"], validate=True))
            if sketch.is_empty:
                raise BaselineError("multivariate: the baseline's error sketch is empty")
            model = PcaModel(encoding, np.ascontiguousarray(components), float(data["explained"]))
            return cls(model, float(data["variance_share"]), sketch, int(errors["n"]), float(errors["mean"]),
                       float(errors["variance"]))
        except (KeyError, TypeError, ValueError, binascii.Error, SerializationError) as exc:
            raise BaselineError(f"invalid multivariate section: {exc!r}") from exc
