"""`implicit` 0.7 (benfred/implicit): AlternatingLeastSquares and BayesianPersonalizedRanking on the CPU.

Orientation: in 0.7, ``fit(user_items)`` takes the users × items matrix, and ``user_factors`` /
``item_factors`` are numpy arrays on the CPU. Models are saved with ``model.save(path)`` (an ``.npz`` read
back without pickle by ``AlternatingLeastSquares.load``).

ALS minimises exactly WMF's loss: on binary data an observed entry has confidence ``alpha`` (implicit scales
the matrix by it) and target 1, a missing one confidence 1 and target 0, plus ``regularization``·‖x‖² per
row. So :class:`ImplicitALSConfig` *is* a :class:`~unlearn.models.WMFConfig` with ``weight = alpha − 1``:
AltEraser's AH-Newton row step on WMF's objective is ALS's own least-squares row solve, and
:meth:`ImplicitALS.solve_rows` computes that same solve with implicit's ``recalculate_user``/``_item``.

BPR keeps the item bias as the last column of ``item_factors`` (the user's last column is fixed at 1).
Both continue from their current factors when ``fit`` is called again (incremental fitting).
Training runs with one thread (BPR's Hogwild SGD is only reproducible so) and BLAS held to one thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unlearn.adapters._protocol import (
    Capabilities,
    FrameworkAdapter,
    Side,
    binary_matrix,
    one_thread,
    trained_rows,
)
from unlearn.models import FactorModel, WMFConfig
from unlearn.training_data import Interactions


class ImplicitALSConfig(WMFConfig):
    """implicit's ALS in Lethe's names: ``embedding_size`` = factors, ``epochs`` = iterations, ``reg`` =
    regularization, ``weight`` = alpha − 1 (an observed entry's extra confidence, as WMF)."""

    use_cg: bool = Field(False, description="conjugate-gradient rows (implicit's default) instead of exact Cholesky")

    def native(self, seed: int) -> dict[str, Any]:
        return {"factors": self.embedding_size, "iterations": self.epochs, "regularization": self.reg,
                "alpha": 1.0 + self.weight, "use_cg": self.use_cg, "random_state": seed, "num_threads": 1}


class ImplicitBPRConfig(BaseModel):
    """implicit's BPR in Lethe's names: ``embedding_size`` = factors, ``epochs`` = iterations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1, description="latent dimension d (implicit adds the bias column)")
    epochs: int = Field(100, ge=1, description="SGD passes over the positives")
    learning_rate: float = Field(0.01, gt=0)
    reg: float = Field(0.01, ge=0, description="implicit's regularization")
    verify_negative_samples: bool = True

    def native(self, seed: int) -> dict[str, Any]:
        return {"factors": self.embedding_size, "iterations": self.epochs, "learning_rate": self.learning_rate,
                "regularization": self.reg, "verify_negative_samples": self.verify_negative_samples,
                "random_state": seed, "num_threads": 1}


def _implicit(module: str) -> Any:
    """An implicit submodule, or a clear error when the optional dependency is missing."""
    import importlib

    try:
        return importlib.import_module(f"implicit.cpu.{module}")
    except ImportError:
        raise ValueError("the implicit adapters need the 'implicit' package: pip install 'lethe[adapters]'") from None


def _check_file(model: Any, kind: type, path: Path) -> None:
    if not isinstance(model, kind) or getattr(model, "item_factors", None) is None:
        raise ValueError(f"{path}: not a fitted implicit {kind.__name__} (saved with model.save(path))")


class ImplicitALS(FrameworkAdapter):
    name: ClassVar[str] = "implicit-als"
    framework: ClassVar[str] = "implicit ALS"
    config_class: ClassVar[type[BaseModel]] = ImplicitALSConfig
    capabilities: ClassVar[Capabilities] = Capabilities(can_fit=True, closed_form_rows=True, incremental=True,
                                                        sequential=False, loss="wmf")

    def _native(self, config: ImplicitALSConfig, seed: int, model: FactorModel | None = None) -> Any:
        als = _implicit("als").AlternatingLeastSquares(**config.native(seed))
        if model is not None:
            als.user_factors = np.array(model.user_factors, dtype=np.float32)
            als.item_factors = np.array(model.item_factors, dtype=np.float32)
        return als

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: BaseModel,
            seed: int, init: FactorModel | None = None) -> FactorModel:
        assert isinstance(config, ImplicitALSConfig)
        with one_thread():
            als = self._native(config, seed, init)
            als.fit(binary_matrix(user_idx, item_idx, n_users, n_items), show_progress=False)
        return FactorModel.unbiased(als.user_factors, als.item_factors, trained_rows(user_idx, n_users, init))

    def load(self, path: Path, params: dict[str, Any], training: Interactions) -> tuple[FactorModel, BaseModel]:
        kind = _implicit("als").AlternatingLeastSquares
        with one_thread():
            als = kind.load(str(path))
        _check_file(als, kind, path)
        if als.alpha < 1.0:
            raise ValueError(f"{path}: alpha {als.alpha} < 1 gives an observed entry less confidence than a missing "
                             "one; Lethe's WMF loss needs alpha ≥ 1")
        native = {"embedding_size": int(als.factors), "epochs": int(als.iterations), "reg": float(als.regularization),
                  "weight": float(als.alpha) - 1.0, "use_cg": bool(als.use_cg)}
        config = ImplicitALSConfig(**{**native, **params})
        trained = np.bincount(training.user_idx, minlength=len(als.user_factors)) > 0
        return FactorModel.unbiased(als.user_factors, als.item_factors, trained), config

    def solve_rows(self, model: FactorModel, data: Interactions, side: Side, rows: np.ndarray,
                   config: BaseModel) -> np.ndarray:
        """implicit's own least-squares solve of these rows (Cholesky), the other side held at ``model``'s."""
        assert isinstance(config, ImplicitALSConfig)
        matrix = data.csr() if side == "user" else data.csr().T.tocsr()
        rows = np.asarray(rows, dtype=np.int64)
        with one_thread():
            als = self._native(config.model_copy(update={"use_cg": False}), 0, model)
            solve = als.recalculate_user if side == "user" else als.recalculate_item
            return np.asarray(solve(rows, matrix[rows]), dtype=np.float32).reshape(len(rows), -1)


class ImplicitBPR(FrameworkAdapter):
    name: ClassVar[str] = "implicit-bpr"
    framework: ClassVar[str] = "implicit BPR"
    config_class: ClassVar[type[BaseModel]] = ImplicitBPRConfig
    capabilities: ClassVar[Capabilities] = Capabilities(can_fit=True, closed_form_rows=False, incremental=True,
                                                        sequential=True)

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: BaseModel,
            seed: int, init: FactorModel | None = None) -> FactorModel:
        assert isinstance(config, ImplicitBPRConfig)
        with one_thread():
            bpr = _implicit("bpr").BayesianPersonalizedRanking(**config.native(seed))
            if init is not None:
                bpr.user_factors = np.hstack([init.user_factors, np.ones((n_users, 1), np.float32)])
                bpr.item_factors = np.hstack([init.item_factors, init.item_bias[:, None]]).astype(np.float32)
            bpr.fit(binary_matrix(user_idx, item_idx, n_users, n_items), show_progress=False)
        return _bpr_model(bpr, trained_rows(user_idx, n_users, init))

    def load(self, path: Path, params: dict[str, Any], training: Interactions) -> tuple[FactorModel, BaseModel]:
        kind = _implicit("bpr").BayesianPersonalizedRanking
        with one_thread():
            bpr = kind.load(str(path))
        _check_file(bpr, kind, path)
        native = {"embedding_size": int(bpr.factors), "epochs": int(bpr.iterations),
                  "learning_rate": float(bpr.learning_rate), "reg": float(bpr.regularization),
                  "verify_negative_samples": bool(bpr.verify_negative_samples)}
        trained = np.bincount(training.user_idx, minlength=len(bpr.user_factors)) > 0
        return _bpr_model(bpr, trained), ImplicitBPRConfig(**{**native, **params})


def _bpr_model(bpr: Any, trained: np.ndarray) -> FactorModel:
    """implicit's ``[q | b]`` item rows and ``[p | 1]`` user rows as a biased factor model."""
    users = np.array(bpr.user_factors[:, :-1], dtype=np.float32)
    users[~trained] = 0.0
    return FactorModel(users, bpr.item_factors[:, :-1], bpr.item_factors[:, -1], trained)
