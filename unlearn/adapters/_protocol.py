"""The adapter contract: what Lethe needs from a recommender trained with somebody else's library.

An adapter turns a framework's model into Lethe's :class:`~unlearn.models.Recommender` (scores, top-k,
user/item factors) and back into training: ``fit`` on a given interaction set, optionally continuing from a
model (incremental fitting), optionally a closed-form solve of given rows with the other side fixed.
Registered as a base model (:meth:`FrameworkAdapter.spec`), an adapter is trained, checkpointed, retrained,
sharded and verified by the existing methods exactly like Lethe's own models.

What an adapter can do is declared in :class:`Capabilities`; which unlearning methods therefore apply (and
why the others do not) is :func:`unlearn.adapters.applicable_methods`.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unlearn.models import BaseModelSpec, FactorModel
from unlearn.training_data import Interactions

Side = Literal["user", "item"]


class Capabilities(BaseModel):
    """What a framework's model allows, and so which unlearning methods can run on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    can_fit: bool = Field(description="Lethe can train it from scratch on a given interaction set (retrain, SISA, "
                                      "RecEraser, the verifier's reference)")
    closed_form_rows: bool = Field(description="one row's factors have a closed-form optimum with the other side "
                                               "fixed (ALS's own per-row least squares: AltEraser's AH-Newton)")
    incremental: bool = Field(description="fitting can continue from a trained model's parameters (warm start)")
    sequential: bool = Field(description="continuing on new data keeps what earlier data taught (LASER's "
                                         "SeqTrain); false for ALS-type sweeps that re-solve every row")
    loss: Literal["wmf", "bpr"] | None = Field(
        None, description="Lethe's objective the framework minimises, when it is exactly one of them "
                          "(then AltEraser and the AdamW warm start can work on its per-row loss)")


class FrameworkAdapter(ABC):
    """One framework's model kind; registered by ``name`` with :func:`unlearn.registry.register_adapter`.

    Every model an adapter hands over is a :class:`FactorModel` (score = ⟨p_u, q_i⟩ + b_i), in the index
    space it was asked for; users with no training interaction carry zero factors.
    """

    name: ClassVar[str]  # the base-model name recorded in MethodSettings, e.g. "implicit-als"
    framework: ClassVar[str]  # the library and model, for people: "implicit ALS"
    config_class: ClassVar[type[BaseModel]]
    capabilities: ClassVar[Capabilities]

    @abstractmethod
    def fit(
        self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: BaseModel, seed: int,
        init: FactorModel | None = None,
    ) -> FactorModel:
        """Train on these positive pairs (continuing from ``init`` when the adapter is incremental)."""

    @abstractmethod
    def load(self, path: Path, params: dict[str, Any], training: Interactions) -> tuple[FactorModel, BaseModel]:
        """Read a model saved by the framework; returns it as a factor model in the file's own index space
        (``training`` is its training data in that space) and the config that reproduces its training."""

    def from_arrays(self, arrays: dict[str, np.ndarray]) -> FactorModel:
        """A checkpoint's arrays back into a model (what ``FactorModel.to_arrays`` wrote)."""
        return FactorModel.from_arrays(arrays)

    def solve_rows(
        self, model: FactorModel, data: Interactions, side: Side, rows: np.ndarray, config: BaseModel
    ) -> np.ndarray:
        """Closed-form optimum of the given rows of ``side`` with the other side fixed (only when
        ``capabilities.closed_form_rows``)."""
        raise NotImplementedError(f"{self.name} has no closed-form per-row update")

    def spec(self) -> BaseModelSpec:
        """This adapter as a base model: what retrain, SISA, RecEraser, LASER and the verifier call."""
        return BaseModelSpec(self.name, self.config_class, self._train, self.from_arrays,
                             warm_start=self.capabilities.sequential)

    def _train(
        self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: BaseModel, seed: int,
        init: FactorModel | None = None, on_epoch: Any = None,
    ) -> FactorModel:
        """The base-model trainer signature; refuses empty data and an ``init`` the adapter cannot continue."""
        if len(user_idx) == 0:
            raise ValueError("cannot train on an empty interaction set")
        if init is not None and not self.capabilities.incremental:
            raise ValueError(f"{self.name} cannot continue fitting from a trained model")
        return self.fit(np.asarray(user_idx, dtype=np.int64), np.asarray(item_idx, dtype=np.int64), n_users, n_items,
                        config, seed, init)


def trained_rows(user_idx: np.ndarray, n_users: int, init: FactorModel | None) -> np.ndarray:
    """Users a fit has trained: those in its data, plus those the model it continued from had (SeqTrain)."""
    trained = np.zeros(n_users, dtype=bool)
    trained[np.asarray(user_idx, dtype=np.int64)] = True
    if init is not None:
        trained |= init.user_trained
    return trained


def binary_matrix(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int) -> "Any":
    """The binary users × items CSR matrix every framework here fits (float32, duplicates collapse to 1)."""
    return Interactions(np.arange(len(user_idx)), np.asarray(user_idx), np.asarray(item_idx), n_users, n_items).csr()


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS, OpenMP and torch's intra-op pool at one thread while a framework fits (restored after).

    Frameworks run many small ops; on a shared 2-core machine a descheduled worker stalls every barrier
    (measured: a torch epoch 7x slower with 2 threads under load), and implicit warns about BLAS threads.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(threads)


