"""A tiny stock ledger for a shop."""

from __future__ import annotations


class Stock:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, item: str, count: int) -> None:
        if count <= 0:
            raise ValueError("count must be positive")
        self._counts[item] = self._counts.get(item, 0) + count

    def remove(self, item: str, count: int) -> None:
        have = self._counts.get(item, 0)
        if count > have:
            raise ValueError(f"only {have} {item} in stock")
        self._counts[item] = have - count

    def count(self, item: str) -> int:
        return self._counts.get(item, 0)

    def low_stock(self, threshold: int) -> list[str]:
        """Items whose count is at or below the threshold, sorted by name."""
        return sorted(item for item, n in self._counts.items() if n < threshold)
