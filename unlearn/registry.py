"""The one registry of Lethe's extension points: base models, framework adapters and unlearning methods.

Every lookup by name goes through here (:func:`base_model`, :func:`get_adapter`, :func:`get_method`, and
:func:`base_models`, :func:`adapters`, :func:`methods` for all of them), and so does adding one
(:func:`register_base_model`, :func:`register_adapter`, :func:`register_method`). A new method, model or
adapter plugs in by registering; nothing else is edited.

The built-ins are one explicit list, :func:`unlearn._builtins.register_builtins`, loaded on the first lookup.
It is imported by name, so this module imports no implementation: implementations depend on the registry and
``_builtins`` on the implementations, and nothing imports in a circle.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from unlearn._named import add_named, get_named

# Values are typed Any on purpose: naming the contract classes here (even for type checkers only) would make the
# registry import the packages that import it. Base models are ``unlearn.models.BaseModelSpec``, adapters
# ``unlearn.adapters.FrameworkAdapter``, methods ``unlearn.methods.UnlearningMethod``.
BaseModelSpec = FrameworkAdapter = UnlearningMethod = Any
_BASE_MODELS: dict[str, BaseModelSpec] = {}
_ADAPTERS: dict[str, FrameworkAdapter] = {}
_METHODS: dict[str, UnlearningMethod] = {}
_builtins_lock = threading.RLock()
_builtins_loaded = False


def _with_builtins() -> None:
    """Register the built-ins once per process (worker processes too), before the first lookup."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _builtins_lock:
        if not _builtins_loaded:
            _builtins_loaded = True  # set first: registering may look names up (a method checking its models)
            try:
                importlib.import_module("unlearn._builtins").register_builtins()
            except BaseException:
                _builtins_loaded = False
                raise


def register_base_model(spec: BaseModelSpec) -> BaseModelSpec:
    """Add a base model (its config class, trainer and array loader) under ``spec.name``."""
    return add_named(_BASE_MODELS, spec, "base model")


def register_adapter(adapter: FrameworkAdapter) -> FrameworkAdapter:
    """Add a framework adapter; it is a base model too, under the same name, so every method can train it."""
    add_named(_ADAPTERS, adapter, "framework")
    register_base_model(adapter.spec())
    return adapter


def register_method(method: UnlearningMethod) -> UnlearningMethod:
    """Add an unlearning method under ``method.name``."""
    return add_named(_METHODS, method, "method")


def base_model(name: str) -> BaseModelSpec:
    """A registered base model; a clear error naming the known ones otherwise."""
    _with_builtins()
    return get_named(_BASE_MODELS, name, "base model")


def get_adapter(name: str) -> FrameworkAdapter:
    _with_builtins()
    return get_named(_ADAPTERS, name, "framework")


def get_method(name: str) -> UnlearningMethod:
    _with_builtins()
    return get_named(_METHODS, name, "method")


def base_models() -> dict[str, BaseModelSpec]:
    """Every registered base model by name (a copy)."""
    _with_builtins()
    return dict(_BASE_MODELS)


def adapters() -> dict[str, FrameworkAdapter]:
    _with_builtins()
    return dict(_ADAPTERS)


def methods() -> dict[str, UnlearningMethod]:
    _with_builtins()
    return dict(_METHODS)
