"""Factor-model training objectives split into independent rows: what approximate unlearning minimises.

AltEraser (Liu et al. RecSys'22, §4.3) holds one side (items) fixed and solves every row of the other
side (a user's factors) as its own small problem; warm start fine-tunes both sides on the same objective.
Both need the base model's loss written per row, over the *remaining* data:

- :class:`WMFObjective` — WMF / ENMF-style weighted squared loss over all user × item entries (observed
  target 1, weight 1 + ``weight``; missing target 0, weight 1) plus ``reg``·‖x‖². Per row it is a quadratic
  with a closed-form Hessian ``2(G + w·AᵀA + reg·I)`` (``G`` the other side's Gram matrix, ``A`` the factors
  of the row's observed entries): AltEraser's AH-Newton.
- :class:`BPRObjective` — BPR's pairwise logistic loss over a fixed, seeded sample of ``negatives``
  negative items per remaining positive, with BPR-MF's per-triple L2. No closed form: HF-Newton only. An
  item row is ``[q_v, b_v]``; items that share a triple see each other at their values before the batch
  (a Jacobi step: rows of one batch are solved independently, as the block-diagonal Hessian assumes).

Rows are batched with their entries padded (:class:`RowBlock`), ordered by degree so padding stays small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel

from unlearn.models import BPRConfig, BPRModel, FactorModel, WMFConfig
from unlearn.models import sample_negatives
from unlearn.training_data import Interactions

Side = Literal["user", "item"]
SIDES: tuple[Side, Side] = ("user", "item")
_PADDED_BUDGET = 1 << 17  # rows × longest row of one batch
_MAX_BATCH_ROWS = 2048


@dataclass(frozen=True)
class RowBlock:
    """A batch of rows of one side: their ids, and their entries as a padded ``(rows, longest)`` index."""

    rows: torch.Tensor  # (B,) row ids
    entries: torch.Tensor  # (B, L) entry ids; padding points at the sentinel entry ``n_entries``
    mask: torch.Tensor  # (B, L) True where an entry is real


def row_blocks(entry_row: np.ndarray, rows: np.ndarray, budget: int = _PADDED_BUDGET) -> list[RowBlock]:
    """Batches of ``rows`` with the ids of their entries (``entry_row[e]`` is entry e's row); rows without
    entries get an all-padding block row."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    order = np.argsort(entry_row, kind="stable")
    sorted_rows = entry_row[order]
    starts = np.searchsorted(sorted_rows, rows, "left")
    degree = np.searchsorted(sorted_rows, rows, "right") - starts
    by_degree = np.argsort(degree, kind="stable")
    blocks, begin = [], 0
    while begin < len(rows):
        longest = max(int(degree[by_degree[min(begin + _MAX_BATCH_ROWS, len(rows)) - 1]]), 1)
        chosen = by_degree[begin : begin + max(1, min(_MAX_BATCH_ROWS, budget // longest))]
        width = max(int(degree[chosen].max()), 1)
        offsets = np.arange(width)
        valid = offsets[None, :] < degree[chosen][:, None]
        index = np.full((len(chosen), width), len(entry_row), dtype=np.int64)
        index[valid] = order[(starts[chosen][:, None] + offsets[None, :])[valid]]
        blocks.append(RowBlock(torch.from_numpy(rows[chosen]), torch.from_numpy(index), torch.from_numpy(valid)))
        begin += len(chosen)
    return blocks


def _padded(values: np.ndarray, fill: int) -> torch.Tensor:
    """An entry attribute with one extra (sentinel) entry at the end, for padded gathers."""
    return torch.from_numpy(np.append(np.asarray(values, dtype=np.int64), fill))


def _gather(matrix: torch.Tensor, index: torch.Tensor, padded: torch.Tensor | None = None) -> torch.Tensor:
    """Rows of ``matrix`` at ``index`` (any shape); index ``len(matrix)`` gives a zero row. ``padded`` is
    ``matrix`` with that zero row already appended (saves a copy of the matrix per batch)."""
    if padded is None:
        padded = torch.cat([matrix, matrix.new_zeros(1, matrix.shape[1])])
    return padded.index_select(0, index.reshape(-1)).view(*index.shape, matrix.shape[1])


class _PerMatrixCache:
    """Values derived from a factor matrix (its Gram matrix, its zero-padded copy), recomputed when the matrix
    changes: keyed by storage, version counter and shape. Matrices that need a gradient are never cached."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int, torch.Size], torch.Tensor]] = {}

    def get(self, name: str, matrix: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if matrix.requires_grad:
            return compute(matrix)
        key = (matrix.data_ptr(), matrix._version, matrix.shape)
        cached = self._entries.get(name)
        if cached is None or cached[0] != key:
            cached = self._entries[name] = (key, compute(matrix))
        return cached[1]


class FactorObjective(ABC):
    """One base model's loss on the remaining data, with its parameters split into a user and an item side.

    ``factors[side]`` holds that side's rows (float64 for Newton's accuracy). ``row_losses`` is each row's
    share of the loss given the other side; summed over every user row plus ``regulariser("item")`` it is
    the whole objective (:meth:`value`).
    """

    closed_form: bool = False

    def __init__(self, remaining: Interactions, factors: dict[Side, torch.Tensor]) -> None:
        self.remaining = remaining
        self.factors = factors
        self.n_rows = {"user": remaining.n_users, "item": remaining.n_items}

    @abstractmethod
    def entry_rows(self, side: Side) -> np.ndarray:
        """The row each entry of ``side`` belongs to."""

    @abstractmethod
    def row_loss(self, side: Side, block: RowBlock, other: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``x ↦ (B,)`` loss of each row of ``block`` at factors ``x`` with the other side at ``other``.

        What does not depend on ``x`` (the block's gathered other-side factors) is gathered once, here: a
        Newton solver evaluates the loss, its gradient and many Hessian-vector products at the same block."""

    def row_losses(self, side: Side, x: torch.Tensor, block: RowBlock, other: torch.Tensor) -> torch.Tensor:
        """``(B,)`` loss of each row of ``block`` at factors ``x`` with the other side at ``other``."""
        return self.row_loss(side, block, other)(x)

    @abstractmethod
    def regulariser(self, side: Side, matrix: torch.Tensor) -> torch.Tensor:
        """The part of the objective on ``side`` that the other side's row losses do not hold."""

    @abstractmethod
    def to_model(self) -> FactorModel:
        """The current factors as the base model's serving class."""

    def newton_system(
        self, side: Side, x: torch.Tensor, block: RowBlock, other: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Closed-form ``(Hessian (B, D, D), gradient (B, D))`` of each row (AH-Newton)."""
        raise ValueError(f"{type(self).__name__} has no closed-form Hessian: use solver 'hf'")

    def other(self, side: Side) -> torch.Tensor:
        return self.factors["item" if side == "user" else "user"]

    def blocks(self, side: Side, rows: np.ndarray | None = None) -> list[RowBlock]:
        rows = np.arange(self.n_rows[side]) if rows is None else rows
        return row_blocks(self.entry_rows(side), rows)

    def has_entries(self, side: Side) -> np.ndarray:
        """Boolean mask of the rows of ``side`` with at least one remaining entry."""
        return np.bincount(self.entry_rows(side), minlength=self.n_rows[side]) > 0

    @torch.no_grad()
    def value(self, blocks: list[RowBlock] | None = None) -> float:
        """The whole objective at the current factors (user rows' losses + the item regulariser)."""
        users, items = self.factors["user"], self.factors["item"]
        total = sum(float(self.row_losses("user", users[b.rows], b, items).sum())
                    for b in (blocks if blocks is not None else self.blocks("user")))
        return total + float(self.regulariser("item", items))


class WMFObjective(FactorObjective):
    """WMF's weighted squared loss over all entries (the Gram trick keeps the missing ones cheap)."""

    closed_form = True
    _VALUE_CHUNK = 1 << 18  # entries scored at once by :meth:`value`

    def __init__(self, remaining: Interactions, model: FactorModel, config: WMFConfig) -> None:
        super().__init__(remaining, {"user": torch.from_numpy(model.user_factors).double(),
                                     "item": torch.from_numpy(model.item_factors).double()})
        self.config = config
        self._rows = {"user": remaining.user_idx, "item": remaining.item_idx}
        self._other = {"user": _padded(remaining.item_idx, remaining.n_items),
                       "item": _padded(remaining.user_idx, remaining.n_users)}
        self._cache = _PerMatrixCache()

    def entry_rows(self, side: Side) -> np.ndarray:
        return self._rows[side]

    def _gram(self, other: torch.Tensor) -> torch.Tensor:
        """``otherᵀ other``, cached while ``other`` is unchanged and needs no gradient (Newton's many calls)."""
        return self._cache.get("gram", other, lambda m: m.T @ m)

    def _observed(self, side: Side, block: RowBlock, other: torch.Tensor) -> torch.Tensor:
        """``(B, L, d)``: the other side's factors at each row's observed entries, zero at padding."""
        padded = self._cache.get("padded", other, lambda m: torch.cat([m, m.new_zeros(1, m.shape[1])]))
        return _gather(other, self._other[side][block.entries], padded)

    def row_loss(self, side: Side, block: RowBlock, other: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        w, reg = self.config.weight, self.config.reg
        a, gram, mask = self._observed(side, block, other), self._gram(other), block.mask

        def losses(x: torch.Tensor) -> torch.Tensor:
            xa = torch.einsum("bld,bd->bl", a, x)
            observed = ((1 + w) * (1 - xa) ** 2 - xa**2) * mask
            return ((x @ gram) * x).sum(1) + observed.sum(1) + reg * x.pow(2).sum(1)

        return losses

    def regulariser(self, side: Side, matrix: torch.Tensor) -> torch.Tensor:
        return self.config.reg * matrix.pow(2).sum()

    def newton_system(
        self, side: Side, x: torch.Tensor, block: RowBlock, other: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``H = 2(G + reg·I + w·AᵀA)`` and ``g = 2((G + reg·I)x + w·AᵀA x − (1 + w)Aᵀ1)``: one batched
        ``AᵀA`` product per block, the gradient from it (no second pass over the gathered entries)."""
        w, reg = self.config.weight, self.config.reg
        a = self._observed(side, block, other)
        d = x.shape[1]
        base = self._gram(other) + reg * torch.eye(d, dtype=x.dtype)
        hessian = torch.bmm(a.transpose(1, 2), a)  # AᵀA, (B, d, d)
        gradient = 2 * (x @ base + w * torch.bmm(hessian, x.unsqueeze(-1)).squeeze(-1) - (1 + w) * a.sum(1))
        hessian.mul_(2 * w).add_(2 * base)
        return hessian, gradient

    @torch.no_grad()
    def value(self, blocks: list[RowBlock] | None = None) -> float:
        """The whole objective in O((m + n)·d² + nnz·d): Σ over all entries of (p·q)² by the Gram trick, the
        observed entries' correction scored entry by entry (``blocks`` is not needed)."""
        users, items = self.factors["user"], self.factors["item"]
        w = self.config.weight
        total = float(((users.T @ users) * self._gram(items)).sum())
        for begin in range(0, len(self._rows["user"]), self._VALUE_CHUNK):
            chunk = slice(begin, begin + self._VALUE_CHUNK)
            u = torch.from_numpy(self._rows["user"][chunk])
            i = torch.from_numpy(self._rows["item"][chunk])
            xa = (users.index_select(0, u) * items.index_select(0, i)).sum(1)
            total += float(((1 + w) * (1 - xa) ** 2 - xa**2).sum())
        return total + self.config.reg * float(users.pow(2).sum() + items.pow(2).sum())

    def to_model(self) -> FactorModel:
        trained = self.has_entries("user")
        return FactorModel.unbiased(self.factors["user"].float().numpy(), self.factors["item"].float().numpy(),
                                    trained)


class BPRObjective(FactorObjective):
    """BPR-MF's pairwise logistic loss on a fixed seeded sample of negatives; item rows are ``[q, b]``."""

    def __init__(self, remaining: Interactions, model: FactorModel, config: BPRConfig, negatives: int,
                 seed: int) -> None:
        items = np.hstack([model.item_factors, model.item_bias[:, None]])
        super().__init__(remaining, {"user": torch.from_numpy(model.user_factors).double(),
                                     "item": torch.from_numpy(items).double()})
        self.config = config
        rng = np.random.default_rng(seed)
        keys = np.unique(remaining.user_idx * remaining.n_items + remaining.item_idx)
        users = np.repeat(remaining.user_idx, negatives)
        positives = np.repeat(remaining.item_idx, negatives)
        negative_items = sample_negatives(rng, users, keys, remaining.n_items)
        n_items = remaining.n_items
        # user rows: one entry per triple (u, i, j); item rows: each triple once as i (sign +1), once as j (−1)
        self._rows = {"user": users, "item": np.concatenate([positives, negative_items])}
        self._user_pos, self._user_neg = _padded(positives, n_items), _padded(negative_items, n_items)
        self._item_user = _padded(np.concatenate([users, users]), remaining.n_users)
        self._item_other = _padded(np.concatenate([negative_items, positives]), n_items)
        self._item_sign = torch.from_numpy(np.concatenate([np.ones(len(users)), -np.ones(len(users)), [0.0]]))
        self._item_count = torch.from_numpy(np.bincount(self._rows["item"], minlength=n_items).astype(np.float64))

    def entry_rows(self, side: Side) -> np.ndarray:
        return self._rows[side]

    def row_loss(self, side: Side, block: RowBlock, other: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        reg, count, mask = self.config.reg, block.mask.sum(1), block.mask
        softplus = torch.nn.functional.softplus
        if side == "user":
            diff = _gather(other, self._user_pos[block.entries]) - _gather(other, self._user_neg[block.entries])
            factors, bias = diff[..., :-1], diff[..., -1]

            def user_losses(x: torch.Tensor) -> torch.Tensor:
                score = torch.einsum("bld,bd->bl", factors, x) + bias
                return (softplus(-score) * mask).sum(1) + reg * count * x.pow(2).sum(1)

            return user_losses
        user = _gather(other, self._item_user[block.entries])  # (B, L, d)
        fixed = _gather(self.factors["item"], self._item_other[block.entries])  # the triple's other item
        sign = self._item_sign[block.entries]
        fixed_score = torch.einsum("bld,bld->bl", user, fixed[..., :-1]) + fixed[..., -1]

        def item_losses(x: torch.Tensor) -> torch.Tensor:
            own = torch.einsum("bld,bd->bl", user, x[:, :-1]) + x[:, -1:]
            score = sign * (own - fixed_score)
            return (softplus(-score) * mask).sum(1) + reg * count * x[:, :-1].pow(2).sum(1)

        return item_losses

    def regulariser(self, side: Side, matrix: torch.Tensor) -> torch.Tensor:
        if side == "user":
            counts = torch.from_numpy(np.bincount(self._rows["user"], minlength=self.n_rows["user"]).astype(float))
            return self.config.reg * (counts * matrix.pow(2).sum(1)).sum()
        return self.config.reg * (self._item_count * matrix[:, :-1].pow(2).sum(1)).sum()

    def to_model(self) -> FactorModel:
        trained = self.has_entries("user")
        users = self.factors["user"].float().numpy().copy()
        users[~trained] = 0.0
        items = self.factors["item"].float().numpy()
        return BPRModel(users, items[:, :-1], items[:, -1], trained)


def objective_for(
    base_model: str, config: BaseModel, remaining: Interactions, model: FactorModel, negatives: int = 2, seed: int = 0
) -> FactorObjective:
    """The row-split objective of a base model, started at ``model``'s factors; a clear error otherwise.
    ``negatives`` and ``seed`` draw BPR's fixed negative sample."""
    if isinstance(config, WMFConfig):  # wmf, and adapters whose config is WMF's (implicit ALS: the same loss)
        return WMFObjective(remaining, model, config)
    if base_model == "bpr":
        assert isinstance(config, BPRConfig)
        return BPRObjective(remaining, model, config, negatives, seed)
    raise ValueError(f"approximate unlearning needs a per-row objective; base model {base_model!r} has none "
                     "(supported: wmf, bpr)")
