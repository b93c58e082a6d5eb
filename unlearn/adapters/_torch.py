"""A user's own PyTorch module that exposes user and item embeddings (``examples/torch_embedding_model.py``).

The module meets a small protocol, :class:`EmbeddingModule`:

- ``__init__(n_users, n_items, **params)`` builds it for an index space (params are JSON values);
- ``user_embedding`` and ``item_embedding`` are ``torch.nn.Embedding`` tables, and optionally ``item_bias`` an
  ``Embedding(n_items, 1)``; the module scores a pair by ⟨user_embedding[u], item_embedding[i]⟩ + item_bias[i]
  (registration checks ``forward(users, items)`` against that on a sample);
- ``fit(user_idx, item_idx, seed)`` trains in place on the given positive pairs, starting from the module's
  current parameters (so a fresh module trains from scratch and a trained one continues: incremental).

The module class is named ``"package.module:Class"`` (importable) or ``"/path/to/file.py:Class"``; its name
and params are the base model's config, so a retrain anywhere rebuilds the same class. A checkpoint stores
the served factors plus the module's whole ``state_dict`` (as arrays, no pickle) so fitting can continue.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unlearn.adapters._protocol import Capabilities, FrameworkAdapter, one_thread, trained_rows
from unlearn.models import FactorModel
from unlearn.training_data import Interactions

_USER_TABLES = ("user_embedding.weight",)
_ITEM_TABLES = ("item_embedding.weight", "item_bias.weight")


class EmbeddingModule(Protocol):
    """What a user's torch module provides (see the module docstring)."""

    user_embedding: Any
    item_embedding: Any

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, seed: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...


class TorchModuleConfig(BaseModel):
    """Which module class, and the params its constructor takes besides the index sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str = Field(description='"package.module:Class" or "/path/file.py:Class"')
    params: dict[str, Any] = Field(default_factory=dict, description="constructor keyword arguments (JSON values)")


_FILE_MODULES: dict[str, Any] = {}


def module_class(ref: str) -> type:
    """The class a ``"package.module:Class"`` or ``"file.py:Class"`` reference names; a clear error otherwise."""
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name:
        raise ValueError(f"torch module {ref!r}: expected 'package.module:Class' or 'path/file.py:Class'")
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise ValueError(f"torch module {ref!r}: no file {path}")
        if str(path) not in _FILE_MODULES:
            key = "lethe_user_module_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(key, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            spec.loader.exec_module(module)
            _FILE_MODULES[str(path)] = module
        source = _FILE_MODULES[str(path)]
    else:
        try:
            source = importlib.import_module(target)
        except ImportError as error:
            raise ValueError(f"torch module {ref!r}: cannot import {target!r} ({error})") from None
    found = getattr(source, name, None)
    if not isinstance(found, type):
        raise ValueError(f"torch module {ref!r}: {target} has no class {name!r}")
    return found


class TorchFactorModel(FactorModel):
    """A trained embedding module served by its factors, with its whole state kept for continued fitting."""

    def __init__(self, config: TorchModuleConfig, state: dict[str, np.ndarray], user_trained: np.ndarray) -> None:
        for key in ("user_embedding.weight", "item_embedding.weight"):
            if key not in state:
                raise ValueError(f"torch module {config.module}: its state has no {key!r} (the module must expose "
                                 "user_embedding and item_embedding tables)")
        users = np.array(state["user_embedding.weight"], dtype=np.float32)
        users[~np.asarray(user_trained, dtype=bool)] = 0.0  # never trained: the model knows nothing of them
        items = state["item_embedding.weight"]
        bias = state["item_bias.weight"][:, 0] if "item_bias.weight" in state else np.zeros(len(items), np.float32)
        super().__init__(users, items, bias, user_trained)
        self.config, self.state = config, state

    @classmethod
    def of(cls, module: Any, config: TorchModuleConfig, user_trained: np.ndarray) -> "TorchFactorModel":
        state = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
        return cls(config, state, user_trained)

    def module(self) -> Any:
        """The torch module with this model's parameters (to continue fitting it)."""
        import torch

        built = module_class(self.config.module)(self.n_users, self.n_items, **self.config.params)
        built.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state.items()})
        return built

    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = {"meta/config": np.array(self.config.model_dump_json())}
        return {**super().to_arrays(), **{f"param/{k}": v for k, v in self.state.items()}, **meta}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FactorModel:  # type: ignore[override]
        """A module's checkpoint, or a plain factor model (e.g. RecEraser's aggregate of torch shards)."""
        if "meta/config" not in arrays:
            return FactorModel.from_arrays(arrays)
        config = TorchModuleConfig(**json.loads(str(arrays["meta/config"])))
        state = {k.removeprefix("param/"): v for k, v in arrays.items() if k.startswith("param/")}
        return cls(config, state, arrays["user_trained"])

    def expanded(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> "TorchFactorModel":
        """Placed at rows ``users``/``items`` of a larger index space: the embedding tables' rows move with
        their users and items (zero elsewhere), every other parameter is kept as it is."""
        state = {}
        for key, value in self.state.items():
            index, size = (users, n_users) if key in _USER_TABLES else (items, n_items) if key in _ITEM_TABLES else (None, 0)
            if index is None:
                state[key] = value
                continue
            placed = np.zeros((size, *value.shape[1:]), dtype=value.dtype)
            placed[index] = value
            state[key] = placed
        trained = np.zeros(n_users, dtype=bool)
        trained[users] = self.user_trained
        return TorchFactorModel(self.config, state, trained)

    def without_rows(self, users: np.ndarray, items: np.ndarray) -> "TorchFactorModel":
        """The same module with these users' and items' embedding rows zeroed (they hold forgotten data)."""
        state = dict(self.state)
        for keys, rows in ((_USER_TABLES, users), (_ITEM_TABLES, items)):
            for key in keys:
                if key in state:
                    state[key] = state[key].copy()
                    state[key][rows] = 0.0
        trained = self.user_trained.copy()
        trained[users] = False
        return TorchFactorModel(self.config, state, trained)


class TorchModule(FrameworkAdapter):
    name: ClassVar[str] = "torch"
    framework: ClassVar[str] = "the torch module"
    config_class: ClassVar[type[BaseModel]] = TorchModuleConfig
    capabilities: ClassVar[Capabilities] = Capabilities(can_fit=True, closed_form_rows=False, incremental=True,
                                                        sequential=True)

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: BaseModel,
            seed: int, init: FactorModel | None = None) -> FactorModel:
        import torch

        assert isinstance(config, TorchModuleConfig)
        if init is not None and not isinstance(init, TorchFactorModel):
            raise ValueError(f"cannot continue {config.module} from a {type(init).__name__} (no module state)")
        torch.manual_seed(seed)
        module = init.module() if init is not None else module_class(config.module)(n_users, n_items, **config.params)
        module.train()
        with one_thread():
            module.fit(user_idx, item_idx, seed)
        return TorchFactorModel.of(module.eval(), config, trained_rows(user_idx, n_users, init))

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> FactorModel:
        return TorchFactorModel.from_arrays(arrays)

    def load(self, path: Path, params: dict[str, Any], training: Interactions) -> tuple[FactorModel, BaseModel]:
        """A ``torch.save(module.state_dict(), path)`` file; ``params`` name the module (``module=...``) and
        its constructor's params."""
        import torch

        params = dict(params)
        if "module" not in params:
            raise ValueError("a torch model needs its class: module='package.module:Class' (CLI: -p module=...)")
        ref = str(params.pop("module"))
        target, _, name = ref.rpartition(":")
        if target.endswith(".py"):  # recorded absolute, so a retrain from any directory finds the same file
            ref = f"{Path(target).resolve()}:{name}"
        config = TorchModuleConfig(module=ref, params=params)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many kinds for a bad file
            raise ValueError(f"{path}: not a torch state_dict saved with torch.save ({error})") from None
        module = module_class(config.module)(training.n_users, training.n_items, **config.params)
        try:
            module.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"{path}: state does not fit {config.module} built for {training.n_users} users and "
                             f"{training.n_items} items: {str(error).splitlines()[0]}") from None
        trained = np.bincount(training.user_idx, minlength=training.n_users) > 0
        model = TorchFactorModel.of(module.eval(), config, trained)
        _check_scores(module, model, training)
        return model, config


def _check_scores(module: Any, model: TorchFactorModel, training: Interactions) -> None:
    """The module's own ``forward`` must score as its embeddings' dot product (+ bias), which Lethe serves."""
    import torch

    rows = np.random.default_rng(0).choice(len(training), size=min(256, len(training)), replace=False)
    users, items = training.user_idx[rows], training.item_idx[rows]
    with torch.no_grad():
        theirs = module(torch.as_tensor(users), torch.as_tensor(items)).reshape(-1).numpy()
    ours = np.einsum("nd,nd->n", np.asarray(module.user_embedding.weight.detach())[users],
                     model.item_factors[items]) + model.item_bias[items]
    if not np.allclose(theirs, ours, rtol=1e-4, atol=1e-5):
        raise ValueError(f"{model.config.module}: forward() does not score ⟨user_embedding, item_embedding⟩ + "
                         "item_bias; Lethe can only serve embedding dot-product modules")
