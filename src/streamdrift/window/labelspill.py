"""The label join's spill of waiting labels (see :mod:`streamdrift.window.joinspill` for predictions): SQLite
(stdlib sqlite3, WAL, ``executemany``) at ``path``, created ``0600``, or a private temporary on-disk database when
``path`` is None, with a sorted array of the keys' hashes so predictions query SQLite only for the keys it flags.
Labels are stored as SQLite values (text, integer, real, blob, null) and read back as such: data only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from streamdrift.errors import JoinStoreError
from streamdrift.window.joinspill import KeyLookup, hash_keys, sorted_hits
from streamdrift.window.spilldir import touch_private_file

SQL_CHUNK: Final[int] = 900
REHASH_MIN: Final[int] = 16_384  # stale spilled-label hashes tolerated before the array is rebuilt
LABEL = "labels"
_SCHEMA: Final[tuple[str, ...]] = (
    f"CREATE TABLE IF NOT EXISTS {LABEL} (key TEXT PRIMARY KEY, label, arrival INTEGER) WITHOUT ROWID",
    f"CREATE INDEX IF NOT EXISTS {LABEL}_arrival ON {LABEL}(arrival)",
)


class LabelSpill:
    """The SQLite side, for waiting labels only: a table keyed by the join key, and the sorted hashes of the keys
    put in it (a superset of the keys held: deleted keys stay until the array is rebuilt)."""

    def __init__(self, path: str | Path | None) -> None:
        try:
            if path is not None:
                touch_private_file(Path(path))  # 0600 before SQLite creates it (its WAL and SHM files take its mode)
            self.db = sqlite3.connect("" if path is None else str(path), isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA cache_size=-1024")
            for stmt in _SCHEMA:
                self.db.execute(stmt)
            self.count = int(self.db.execute(f"SELECT COUNT(*) FROM {LABEL}").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise JoinStoreError(f"cannot open join store {path}: {exc}") from exc
        self.hashes = np.zeros(0, dtype=np.int64)
        self._stale = 0
        self._rehash()

    def put(self, rows: list[tuple[Any, ...]]) -> None:
        with self._tx():
            cur = self.db.executemany(f"INSERT OR IGNORE INTO {LABEL} VALUES (?, ?, ?)", rows)
        self.count += max(cur.rowcount, 0)
        added = hash_keys([row[0] for row in rows])
        merged = np.concatenate([self.hashes, added])
        merged.sort(kind="stable")  # two sorted runs when the keys are in order: a merge
        self.hashes = merged

    def candidates(self, keys: KeyLookup, hashes: NDArray[np.int64]) -> list[str]:
        """The keys that may be held (their hash was put): the others certainly are not."""
        if not keys or self.count == 0:
            return []
        return [keys[i] for i in sorted_hits(self.hashes, hashes).tolist()]

    def fetch(self, keys: list[str]) -> dict[str, tuple[Any, int]]:
        if not keys or self.count == 0:
            return {}
        out: dict[str, tuple[Any, int]] = {}
        for chunk in _chunks(keys):
            sql = f"SELECT key, label, arrival FROM {LABEL} WHERE key IN ({', '.join('?' * len(chunk))})"
            out.update((row[0], (row[1], int(row[2]))) for row in self.db.execute(sql, chunk))
        return out

    def delete(self, keys: list[str]) -> None:
        if keys:
            with self._tx():
                cur = self.db.executemany(f"DELETE FROM {LABEL} WHERE key = ?", [(k,) for k in keys])
            self._removed(max(cur.rowcount, 0))

    def expire(self, cutoff: int) -> int:
        if self.count == 0:
            return 0
        with self._tx():
            cur = self.db.execute(f"DELETE FROM {LABEL} WHERE arrival < ?", (cutoff,))
        self._removed(cur.rowcount)
        return int(cur.rowcount)

    def _removed(self, n: int) -> None:
        self.count -= n
        self._stale += n
        if self.count == 0:
            self.hashes, self._stale = np.zeros(0, dtype=np.int64), 0
        elif self._stale > max(self.count, REHASH_MIN):
            self._rehash()

    def _rehash(self) -> None:
        """The hashes of the keys held now (O(spilled keys), after as many deletions)."""
        keys = [row[0] for row in self.db.execute(f"SELECT key FROM {LABEL}")] if self.count else []
        self.hashes = np.sort(hash_keys(keys))
        self._stale = 0

    def _tx(self) -> Any:
        return Transaction(self.db)

    def close(self) -> None:
        self.db.close()




class Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), SQL_CHUNK):
        yield keys[start : start + SQL_CHUNK]

