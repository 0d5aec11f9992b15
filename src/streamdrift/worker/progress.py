"""The control plane's progress for its supervisor: the wall clock of the *oldest* last commit among the partials
partitions it owns. faust commits each partition in its own transaction; one partition stuck (its transaction
producer hung after a coordinator moved, its fetch stalled) while the others commit holds back every window
that needs that partition's deltas, so the stall watch must see the slowest partition, not any commit. Every
partition receives the control plane's ticks, so an owned partition that commits nothing for long is stuck."""

from __future__ import annotations

from collections.abc import Iterable


class CommitClock:
    """Per owned partition, when it last committed (or, never yet, when it was first seen owned)."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}

    def committed(self, partitions: Iterable[int], now: float) -> None:
        for p in partitions:
            self._last[p] = now

    def forget(self) -> None:
        """After a rebalance: the new assignment's partitions each start their clock when next seen."""
        self._last.clear()

    def oldest(self, owned: Iterable[int], now: float) -> float:
        """The oldest last commit among ``owned`` (a newly owned partition counts from ``now``); ``now`` when
        nothing is owned (a spare replica has nothing to commit)."""
        owned = set(owned)
        for p in list(self._last):
            if p not in owned:
                del self._last[p]
        for p in owned:
            self._last.setdefault(p, now)
        return min(self._last.values(), default=now)
