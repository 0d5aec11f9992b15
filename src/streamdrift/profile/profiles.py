"""Mergeable per-feature profiles: numeric moments + KLL, categorical frequent items + HLL, Kind counts.

A :class:`DatasetProfile` is what streamdrift keeps per model x window x partition. ``update`` is vectorized
(one numpy pass per column), ``merge`` is exact for counts / min / max and uses Chan's parallel formulas for
mean and M2, and ``to_bytes`` writes one versioned, checksummed envelope (see :mod:`streamdrift.profile.sketches`).

Which rows feed a feature's categorical part (docs/profiles.md): STRING and BOOLEAN rows always; numeric rows
too when the feature is declared String/Boolean by the schema given to :meth:`DatasetProfile.empty`, or,
without a declaration, in batches where the column also has STRING rows. Numbers are fed in their canonical
text form (``3`` for integral values, Python ``repr`` otherwise); NONFINITE rows never feed it.
Invariant: for every feature, ``n_present + n_missing == n_records``.

This module gathers the public names of the profile modules (import from here or from them):
:mod:`~streamdrift.profile.payload` (:class:`ProfileParams`), :mod:`~streamdrift.profile.numeric`,
:mod:`~streamdrift.profile.categorical`, :mod:`~streamdrift.profile.feature` and
:mod:`~streamdrift.profile.dataset`.
"""


from __future__ import annotations

from streamdrift.profile.categorical import CategoricalProfile, format_numbers
from streamdrift.profile.dataset import DatasetProfile, Schema
from streamdrift.profile.feature import FeatureProfile
from streamdrift.profile.numeric import PENDING_FACTOR, NumericProfile
from streamdrift.profile.payload import ProfileParams

__all__ = [
    "PENDING_FACTOR",
    "CategoricalProfile",
    "DatasetProfile",
    "FeatureProfile",
    "NumericProfile",
    "ProfileParams",
    "Schema",
    "format_numbers",
]
