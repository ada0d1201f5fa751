"""Named registries that refuse duplicates and list the valid names on a miss."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from edgeunlearn.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        if name not in self._items:
            valid = ", ".join(sorted(self._items))
            raise UserError(f"unknown {self.kind} {name!r}: choose one of {valid}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
