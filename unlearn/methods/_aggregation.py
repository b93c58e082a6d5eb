"""How RecEraser combines its shard models: attention (the paper's), mean (SISA's) and static (GraphEraser's).

Attention (Chen et al. WWW'22, Eq. 5–8): each shard's factors are moved into one space by a per-shard
transfer, ``P_tr^i = P^i W^i + b^i`` (items likewise); a user's embedding is the mix ``Σ_i α_iu P_tr^i_u``
with ``α_·u = softmax_i(h_1ᵀ ReLU(W_1 P_tr^i_u + b_1))``, an item's ``Σ_i β_iv Q_tr^i_v`` with its own
attention (W_2, b_2, h_2). The shard models are frozen; only Θ = {W^i, b^i, W_1, b_1, h_1, W_2, b_2, h_2}
trains, after them, on the union of their training sets, with the BPR loss and λ‖Θ‖². Since the result is
again one user and one item matrix, the aggregate serves as a plain :class:`FactorModel`.

Choices beyond the paper, each for a reason: the transfers start at the identity (training starts from
the mean of the shards, and a few epochs suffice); item biases of biased shard models (BPR) are mixed with
the same β; every base model's aggregator trains with the BPR loss (the paper uses the base model's loss,
e.g. WMF's for WMF; one ranking loss keeps one trainer); the activation σ is ReLU, as in the official code.

Static (GraphEraser-like): one learned softmax weight per shard for every prediction. Mean: no parameters,
:class:`ShardMeanEnsemble`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models import FactorModel, Recommender
from unlearn.models import ShardMeanEnsemble, train_pairwise

AGGREGATIONS = ("attention", "mean", "static")
TRAINED_AGGREGATIONS = ("attention", "static")


def check_aggregation(name: str) -> str:
    """``name`` if it is a known aggregation, else a ValueError naming the known ones."""
    if name not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {name!r}; known: {', '.join(AGGREGATIONS)}")
    return name


class AggregatorConfig(BaseModel):
    """Hyper-parameters of a trained aggregator (attention or static)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(4, ge=1, description="passes over the union of the shards' training sets; on ML-1M "
                        "(BPR, UBP, 10 shards) Recall@20 was 0.172 / 0.185 / 0.190 / 0.187 after 1 / 2 / 4 / 8, so 4 "
                        "keeps the quality at half the cost of 8 (the aggregator is retrained by every request)")
    learning_rate: float = Field(0.02, gt=0, description="Adam step size")
    reg: float = Field(1e-5, ge=0, description="λ: L2 weight on every aggregator parameter (Eq. 8)")
    batch_size: int = Field(32768, ge=1, description="large: a step transfers each distinct user and item "
                            "of its batch once, so big batches cost little more than small ones")
    attention_size: int = Field(32, ge=1, description="k, the attention networks' hidden width")
    max_pairs: int | None = Field(
        1_000_000, ge=1, description="train on at most this many of the shards' pairs (None: all), chosen by a "
        "seeded hash of their ids. Every request retrains the aggregator; capped, its epochs cost the same at 10M "
        "interactions as at 1M. Θ has ~K·d² parameters (~90k at 20 shards), far fewer than the pairs kept; "
        "the cap's effect on quality at 10M+ was not measured")


def aggregator_training_ids(ids: np.ndarray, config: AggregatorConfig, seed: int) -> np.ndarray:
    """The (sorted) ids an aggregator trains on: all of ``ids``, or the ``max_pairs`` lowest by a seeded hash.

    The choice depends only on each id and the seed, so it is stable under erasure: erased ids leave, the
    next ones in hash order join, and the retrain after a request trains on exactly what a fresh fit on the
    remaining data would. The lineage proof derives the same set from the ledger.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if config.max_pairs is None or len(ids) <= config.max_pairs:
        return ids
    keys = _splitmix64(ids.astype(np.uint64) + np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64))
    return np.sort(ids[np.argpartition(keys, config.max_pairs - 1)[: config.max_pairs]])


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed, well-mixed 64-bit hash (arithmetic wraps modulo 2⁶⁴)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class ShardFactors:
    """The frozen shard models as stacked tensors: users (K, n_users, d), items (K, n_items, d), bias (K, n_items)."""

    users: torch.Tensor
    items: torch.Tensor
    bias: torch.Tensor
    trained: np.ndarray  # (n_users,): trained by at least one shard

    @classmethod
    def of(cls, models: list[Recommender]) -> "ShardFactors":
        if not all(isinstance(m, FactorModel) for m in models):
            raise ValueError("trained aggregation needs factor models (BPR, WMF, LightGCN) as shard models")
        factor_models = [m for m in models if isinstance(m, FactorModel)]
        return cls(
            torch.from_numpy(np.stack([m.user_factors for m in factor_models])),
            torch.from_numpy(np.stack([m.item_factors for m in factor_models])),
            torch.from_numpy(np.stack([m.item_bias for m in factor_models])),
            np.any(np.stack([m.user_trained for m in factor_models]), axis=0),
        )


class _Attention(torch.nn.Module):
    """α_i = softmax_i(hᵀ ReLU(W x_i + b)) over the K shards' (transferred) embeddings x_i."""

    def __init__(self, d: int, k: int, generator: torch.Generator) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d, k, generator=generator) * (2.0 / (d + k)) ** 0.5)
        self.bias = torch.nn.Parameter(torch.zeros(k))
        self.head = torch.nn.Parameter(torch.full((k,), 0.01))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(K, B, d) → weights (B, K), each row summing to one."""
        return torch.softmax(torch.relu(embeddings @ self.weight + self.bias) @ self.head, dim=0).T


class AttentionAggregator(torch.nn.Module):
    """Per-shard transfers plus user and item attention (Eq. 5–7)."""

    def __init__(self, n_shards: int, d: int, attention_size: int, generator: torch.Generator) -> None:
        super().__init__()
        self.transfer = torch.nn.Parameter(torch.eye(d).repeat(n_shards, 1, 1))
        self.transfer_bias = torch.nn.Parameter(torch.zeros(n_shards, d))
        self.user_attention = _Attention(d, attention_size, generator)
        self.item_attention = _Attention(d, attention_size, generator)

    def _transferred(self, factors: torch.Tensor) -> torch.Tensor:
        return torch.bmm(factors, self.transfer) + self.transfer_bias[:, None, :]

    @staticmethod
    def _mix(weights: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
        """Σ_i w_bi x_ibd, as a broadcast product (einsum lowers it to B tiny 1 × K matrix products)."""
        return (weights.T.unsqueeze(-1) * moved).sum(0)

    def users(self, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shard user factors (K, B, d) → aggregated factors (B, d) and the weights α (B, K)."""
        moved = self._transferred(factors)
        alpha = self.user_attention(moved)
        return self._mix(alpha, moved), alpha

    def items(self, factors: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shard item factors (K, B, d) and biases (K, B) → factors (B, d), bias (B,), weights β (B, K)."""
        moved = self._transferred(factors)
        beta = self.item_attention(moved)
        return self._mix(beta, moved), (beta * bias.T).sum(1), beta

    def pair_scores(
        self, shards: ShardFactors, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of (u, i) and (u, j); each distinct user and item of the batch is transferred once."""
        users, user_row = torch.unique(u, return_inverse=True)
        items, item_row = torch.unique(torch.cat([i, j]), return_inverse=True)
        p, _ = self.users(shards.users[:, users])
        q, bias, _ = self.items(shards.items[:, items], shards.bias[:, items])
        p, positive, negative = p[user_row], item_row[: len(i)], item_row[len(i) :]
        return (p * q[positive]).sum(1) + bias[positive], (p * q[negative]).sum(1) + bias[negative]

    def aggregate(self, shards: ShardFactors) -> FactorModel:
        """The aggregate as one factor model; users no shard trained on keep zero factors (unknown to it)."""
        with torch.no_grad():
            users, _ = self.users(shards.users)
            items, bias, _ = self.items(shards.items, shards.bias)
        user_factors = users.numpy().copy()
        user_factors[~shards.trained] = 0.0
        return FactorModel(user_factors, items.numpy(), bias.numpy(), shards.trained)


class StaticAggregator(torch.nn.Module):
    """One softmax weight per shard, the same for every prediction."""

    def __init__(self, n_shards: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_shards))

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, 0)

    def pair_scores(
        self, shards: ShardFactors, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of (u, i) and (u, j): the weighted sum of the shards' scores."""
        users, weights = shards.users[:, u], self.weights()

        def score(items: torch.Tensor) -> torch.Tensor:
            return weights @ ((users * shards.items[:, items]).sum(2) + shards.bias[:, items])

        return score(i), score(j)


def _aggregator(name: str, shards: ShardFactors, config: AggregatorConfig, seed: int) -> torch.nn.Module:
    n_shards, _, d = shards.users.shape
    if name == "attention":
        return AttentionAggregator(n_shards, d, config.attention_size, torch.Generator().manual_seed(seed))
    if name == "static":
        return StaticAggregator(n_shards)
    raise ValueError(f"aggregation {name!r} has nothing to train; trained ones: {', '.join(TRAINED_AGGREGATIONS)}")


def train_aggregator(
    name: str,
    models: list[Recommender],
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    config: AggregatorConfig,
    seed: int,
) -> dict[str, np.ndarray]:
    """Fit an aggregator over frozen shard models with the BPR loss + λ‖Θ‖²; returns its parameters."""
    shards = ShardFactors.of(models)
    module = _aggregator(name, shards, config, seed)

    def loss(u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        positive, negative = module.pair_scores(shards, u, i, j)
        penalty = config.reg * sum(p.pow(2).sum() for p in module.parameters())
        return -torch.nn.functional.logsigmoid(positive - negative).mean() + penalty

    optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
    train_pairwise(user_idx, item_idx, shards.items.shape[1], config.epochs, config.batch_size,
                   np.random.default_rng(seed), loss, optimizer)
    return {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}


def restore_aggregator(name: str, shards: ShardFactors, arrays: dict[str, np.ndarray], config: AggregatorConfig) -> torch.nn.Module:
    """A trained aggregator from its saved parameters (the seed only initialises what they replace)."""
    module = _aggregator(name, shards, config, seed=0)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in arrays.items()})
    return module


def build_aggregate(
    name: str, models: list[Recommender], arrays: dict[str, np.ndarray] | None, config: AggregatorConfig
) -> Recommender:
    """The serving model: shard models combined by ``name`` with the trained ``arrays`` (None for mean)."""
    check_aggregation(name)
    if name == "mean":
        return ShardMeanEnsemble(models)
    if arrays is None:
        raise ValueError(f"aggregation {name!r} needs its trained parameters")
    shards = ShardFactors.of(models)
    module = restore_aggregator(name, shards, arrays, config)
    if isinstance(module, StaticAggregator):
        return StaticEnsemble(models, module.weights().detach().numpy())
    assert isinstance(module, AttentionAggregator)
    return module.aggregate(shards)


class StaticEnsemble(ShardMeanEnsemble):
    """Shard scores mixed with one fixed weight per shard, for every user."""

    def __init__(self, shards: list[Recommender], shard_weights: np.ndarray) -> None:
        super().__init__(shards)
        self.weights = np.tile(np.asarray(shard_weights, dtype=np.float32), (self.n_users, 1))
