"""DMF (Xue et al. IJCAI'17) and NeuMF (He et al. WWW'17), LASER's base models (Li et al., Eq. 1–2).

DMF:   ŷ_ui = cos(f(α_u), g(β_i)), f and g two ReLU towers over the ID embeddings; ŷ is clipped to (0, 1) as
       the original's normalised cross-entropy does (μ = 1e-6).
NeuMF: ŷ_ui = sigmoid(hᵀ [α_u ⊙ β_i ; MLP(α'_u ⊕ β'_i)]), a GMF and an MLP branch with their own embeddings.

Embedding size 16, layers (64, 32), every weight drawn from N(0, 0.01²), biases 0, Adam with lr 0.001 (the
paper's settings). Implicit feedback: binary cross-entropy on each positive and one uniformly sampled
negative per positive per epoch (the shared pairwise loop; NCF draws 4, one keeps an epoch as cheap as BPR's).

``init``: training continues from another model's parameters (a fresh Adam state), which is what LASER's
SeqTrain does group after group; a model is then a pure function of (init, training set, seed, config).
Users never trained keep their random initial embedding: it holds nothing of any data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models._base import Recommender
from unlearn.models._pairwise import train_pairwise

_SCORE_BLOCK = 1 << 14  # (user, item) pairs NeuMF's MLP scores at once: 16k × 64 floats stay in cache


class NeuralConfig(BaseModel):
    """Hyper-parameters of DMF and NeuMF (Lethe's shared names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(16, ge=1, description="ID embedding size (each branch's, for NeuMF)")
    layers: tuple[int, ...] = Field((64, 32), min_length=1, description="hidden sizes of the towers / MLP")
    epochs: int = Field(20, ge=1)
    learning_rate: float = Field(0.001, gt=0, description="Adam step size")
    batch_size: int = Field(1024, ge=1, description="positives per step (each with one negative)")
    init_std: float = Field(0.01, gt=0, description="standard deviation of every initial weight")


def _tower(width: int, layers: tuple[int, ...]) -> torch.nn.Sequential:
    modules: list[torch.nn.Module] = []
    for size in layers:
        modules += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    return torch.nn.Sequential(*modules)


def _layers_of(state: dict[str, np.ndarray], tower: str) -> tuple[int, ...]:
    """Hidden sizes of a saved tower, read from its Linear weights' shapes."""
    keys = sorted((k for k in state if k.startswith(f"{tower}.") and k.endswith(".weight")),
                  key=lambda k: int(k.split(".")[1]))
    return tuple(state[k].shape[0] for k in keys)


class _DMF(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, d: int, layers: tuple[int, ...]) -> None:
        super().__init__()
        self.user, self.item = torch.nn.Embedding(n_users, d), torch.nn.Embedding(n_items, d)
        self.user_tower, self.item_tower = _tower(d, layers), _tower(d, layers)

    def _users(self, users: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.user_tower(self.user(users)), dim=1, eps=1e-12)

    def _items(self, items: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.item_tower(self.item(items)), dim=1, eps=1e-12)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self._users(users) * self._items(items)).sum(1)

    def loss(self, users: torch.Tensor, items: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        predicted = self(users, items).clamp(1e-6, 1 - 1e-6)
        return torch.nn.functional.binary_cross_entropy(predicted, labels)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self._users(users) @ self._items(torch.arange(self.item.num_embeddings)).T

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user.weight, self.item.weight

    @classmethod
    def shaped_like(cls, state: dict[str, np.ndarray]) -> "_DMF":
        (n_users, d), n_items = state["user.weight"].shape, state["item.weight"].shape[0]
        return cls(n_users, n_items, d, _layers_of(state, "user_tower"))


class _NeuMF(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, d: int, layers: tuple[int, ...]) -> None:
        super().__init__()
        self.gmf_user, self.gmf_item = torch.nn.Embedding(n_users, d), torch.nn.Embedding(n_items, d)
        self.mlp_user, self.mlp_item = torch.nn.Embedding(n_users, d), torch.nn.Embedding(n_items, d)
        self.mlp = _tower(2 * d, layers)
        self.out = torch.nn.Linear(d + layers[-1], 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of ŷ (the sigmoid is in the loss, and ranking does not need it)."""
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=1))
        return self.out(torch.cat([gmf, mlp], dim=1)).squeeze(1)

    def loss(self, users: torch.Tensor, items: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(self(users, items), labels)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Every item for each user; the MLP's first layer is split into its user and item halves, so each
        pair costs one addition there, and pairs go through the rest in blocks."""
        n_items, d = self.gmf_item.num_embeddings, self.gmf_user.embedding_dim
        first = self.mlp[0]
        user_part = self.mlp_user(users) @ first.weight[:, :d].T + first.bias
        item_part = self.mlp_item.weight @ first.weight[:, d:].T
        head_gmf, head_mlp = self.out.weight[0, :d], self.out.weight[0, d:]
        out = (self.gmf_user(users) * head_gmf) @ self.gmf_item.weight.T + self.out.bias
        rows = max(1, _SCORE_BLOCK // n_items)
        for start in range(0, len(users), rows):
            hidden = torch.relu(user_part[start:start + rows, None, :] + item_part[None, :, :])
            hidden = self.mlp[2:](hidden) if len(self.mlp) > 2 else hidden
            out[start:start + rows] += hidden @ head_mlp
        return out

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.cat([self.gmf_user.weight, self.mlp_user.weight], dim=1),
                torch.cat([self.gmf_item.weight, self.mlp_item.weight], dim=1))

    @classmethod
    def shaped_like(cls, state: dict[str, np.ndarray]) -> "_NeuMF":
        (n_users, d), n_items = state["gmf_user.weight"].shape, state["gmf_item.weight"].shape[0]
        return cls(n_users, n_items, d, _layers_of(state, "mlp"))


class NeuralModel(Recommender):
    """A trained DMF or NeuMF: the torch module in eval mode plus which users it trained on."""

    kind: ClassVar[str]
    network: ClassVar[type[_DMF] | type[_NeuMF]]

    def __init__(self, module: torch.nn.Module, user_trained: np.ndarray) -> None:
        self.module = module.eval()
        self.user_trained = np.asarray(user_trained, dtype=bool)
        users, items = self.module.embeddings()
        self.n_users, self.n_items = users.shape[0], items.shape[0]

    def score_all(self, users: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.module.score_all(torch.as_tensor(np.asarray(users, dtype=np.int64))).numpy()

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users_t = torch.as_tensor(np.asarray(users, dtype=np.int64))
        with torch.no_grad():
            return self.module(users_t, torch.as_tensor(np.asarray(items, dtype=np.int64))).numpy()

    def trained_users(self) -> np.ndarray:
        return self.user_trained

    def user_embeddings(self) -> np.ndarray:
        return self.module.embeddings()[0].detach().numpy()

    def item_embeddings(self) -> np.ndarray:
        return self.module.embeddings()[1].detach().numpy()

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"param/{k}": v.detach().numpy() for k, v in self.module.state_dict().items()}
        return {**arrays, "user_trained": self.user_trained}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "NeuralModel":
        state = {k.removeprefix("param/"): v for k, v in arrays.items() if k.startswith("param/")}
        module = cls.network.shaped_like(state)
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        return cls(module, arrays["user_trained"])


class DMFModel(NeuralModel):
    kind = "dmf"
    network = _DMF


class NeuMFModel(NeuralModel):
    kind = "neumf"
    network = _NeuMF


def _train(
    model_class: type[NeuralModel], user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int,
    config: NeuralConfig, seed: int, init: NeuralModel | None, on_epoch: Callable[[int, float], None] | None,
) -> NeuralModel:
    """Fresh N(0, std²) weights (or ``init``'s), then the epochs; deterministic for a seed on one machine."""
    module = model_class.network(n_users, n_items, config.embedding_size, config.layers)
    generator = torch.Generator().manual_seed(seed)
    trained = np.zeros(n_users, dtype=bool)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.zero_() if name.endswith("bias") else parameter.normal_(0.0, config.init_std, generator=generator)
        if init is not None:
            if not isinstance(init, model_class):
                raise TypeError(f"cannot continue a {model_class.kind} from a {type(init).__name__}")
            module.load_state_dict(init.module.state_dict())  # raises on any shape mismatch
            trained |= init.user_trained
    optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate)

    def loss(users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        labels = torch.cat([torch.ones(len(users)), torch.zeros(len(users))])
        return module.loss(torch.cat([users, users]), torch.cat([positives, negatives]), labels)

    module.train()
    train_pairwise(user_idx, item_idx, n_items, config.epochs, config.batch_size, np.random.default_rng(seed), loss,
                   optimizer, on_epoch)
    trained[np.asarray(user_idx, dtype=np.int64)] = True
    return model_class(module, trained)


def train_dmf(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: NeuralConfig, seed: int,
    init: NeuralModel | None = None, on_epoch: Callable[[int, float], None] | None = None,
) -> NeuralModel:
    """Fit DMF on positive pairs (continuing from ``init`` if given)."""
    return _train(DMFModel, user_idx, item_idx, n_users, n_items, config, seed, init, on_epoch)


def train_neumf(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: NeuralConfig, seed: int,
    init: NeuralModel | None = None, on_epoch: Callable[[int, float], None] | None = None,
) -> NeuralModel:
    """Fit NeuMF on positive pairs (continuing from ``init`` if given)."""
    return _train(NeuMFModel, user_idx, item_idx, n_users, n_items, config, seed, init, on_epoch)
