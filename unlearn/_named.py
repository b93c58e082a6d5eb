"""Registries by name (methods, framework adapters): one way to add and look up, one error wording."""

from __future__ import annotations

from typing import Protocol, TypeVar


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


def add_named(registry: dict[str, T], item: T, kind: str) -> T:
    """Add ``item`` under its ``name``; a second one with the same name is a bug."""
    if item.name in registry:
        raise ValueError(f"{kind} {item.name!r} is already registered")
    registry[item.name] = item
    return item


def get_named(registry: dict[str, T], name: str, kind: str) -> T:
    """``registry[name]``, or a clear error naming the known ones."""
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}") from None
