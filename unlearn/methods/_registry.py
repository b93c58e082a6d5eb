"""Methods by name: new methods plug in by registering, never by editing the engine."""

from __future__ import annotations

from unlearn.methods._protocol import UnlearningMethod

METHODS: dict[str, UnlearningMethod] = {}


def register_method(method: UnlearningMethod) -> UnlearningMethod:
    """Add a method instance under its ``name`` (a second one with the same name is a bug)."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> UnlearningMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None
