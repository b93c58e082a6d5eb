"""Methods by name: new methods plug in by registering, never by editing the engine."""

from __future__ import annotations

from unlearn._named import add_named, get_named
from unlearn.methods._protocol import UnlearningMethod

METHODS: dict[str, UnlearningMethod] = {}


def register_method(method: UnlearningMethod) -> UnlearningMethod:
    return add_named(METHODS, method, "method")


def get_method(name: str) -> UnlearningMethod:
    return get_named(METHODS, name, "method")
