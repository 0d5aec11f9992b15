"""What every format reader shares: the read options, and how role columns leave the features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from numpy.typing import NDArray

from streamdrift.columns.chunks import BadLine, BadLineCallback, RoleColumns, role_values
from streamdrift.columns.columns import Columns
from streamdrift.ingest.formats import DEFAULT_MAX_LINE_BYTES


def ignore_bad_line(_: BadLine) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a file (the keyword arguments of :func:`streamdrift.ingest.files.iter_chunks`).

    ``encoding``: the text encoding of CSV / JSON Lines input (None: UTF-8, anything else refused);
    ``max_line_bytes``: the longest line (CSV record) read, longer ones are an error."""

    chunk_rows: int = 100_000
    has_header: bool | None = None
    column_names: tuple[str, ...] | None = None
    exclude: frozenset[str] = frozenset()
    timestamp_column: str | None = None
    id_column: str | None = None
    prediction_column: str = "prediction"
    on_bad_line: BadLineCallback = ignore_bad_line
    roles: RoleColumns | None = None
    encoding: str | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def extra_columns(self) -> frozenset[str]:
        """The timestamp and id columns (never features)."""
        return frozenset(c for c in (self.timestamp_column, self.id_column) if c is not None)

    def role_names(self) -> frozenset[str]:
        return self.roles.names() if self.roles is not None else frozenset()


# Keys under which a capture record's prediction, score and attributions travel among its feature cells.
PREDICTION_KEY: Final[str] = "\0prediction"
SCORE_KEY: Final[str] = "\0score"
ATTRIBUTION_PREFIX: Final[str] = "\0attribution:"


def split_roles(columns: Columns, roles: RoleColumns | None) -> tuple[Columns, dict[str, Any]]:
    """(feature columns, Chunk keyword arguments of the role values and attributions)."""
    if roles is None:
        return columns, {}
    cols = dict(columns.columns)

    def take(*names: str | None) -> NDArray[Any] | None:
        found = [cols.pop(n) for n in names if n is not None and n in cols]
        return role_values(found[0]) if found else None

    attribution = {name[len(ATTRIBUTION_PREFIX):]: cols.pop(name)
                   for name in [n for n in cols if n.startswith(ATTRIBUTION_PREFIX)]}
    extras = {
        "targets": take(roles.target),
        "predictions": take(PREDICTION_KEY, roles.prediction),
        "scores": take(SCORE_KEY, roles.score),
        "attributions": Columns(columns.n_rows, attribution) if attribution else None,
    }
    for name in roles.names():
        cols.pop(name, None)
    return Columns(columns.n_rows, cols), extras
