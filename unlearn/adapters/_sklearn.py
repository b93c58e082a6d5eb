"""scikit-learn matrix factorisation of the binary users × items matrix X: ``TruncatedSVD`` and ``NMF``.

Item factors are ``components_.T``; user factors are ``transform(X)`` (SVD: ``X V``, the users' coordinates
in the item subspace; NMF: the non-negative W solved for X with H fixed); score = user · item (X's
reconstruction). Neither has a closed-form per-row update Lethe could use as AltEraser's. NMF continues from
given factors (``init="custom"``), but its solver updates every row of W against the new data, so a
continued fit forgets earlier data's users (no SeqTrain). TruncatedSVD cannot continue.

A fitted estimator is read with ``joblib.load``, i.e. unpickled: register only files you trust (the
ledger records the file's sha256 either way). Training is single-threaded, seeded by ``random_state``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unlearn.adapters._protocol import (
    Capabilities,
    FrameworkAdapter,
    binary_matrix,
    one_thread,
    trained_rows,
)
from unlearn.models import FactorModel
from unlearn.training_data import Interactions


class SklearnSVDConfig(BaseModel):
    """TruncatedSVD in Lethe's names: ``embedding_size`` = n_components, ``epochs`` = n_iter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1)
    epochs: int = Field(5, ge=1, description="randomized SVD power iterations")

    def estimator(self, seed: int) -> Any:
        from sklearn.decomposition import TruncatedSVD

        return TruncatedSVD(n_components=self.embedding_size, n_iter=self.epochs, random_state=seed)


class SklearnNMFConfig(BaseModel):
    """NMF in Lethe's names: ``embedding_size`` = n_components, ``epochs`` = max_iter, ``reg`` = alpha_W."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedding_size: int = Field(64, ge=1)
    epochs: int = Field(200, ge=1, description="coordinate-descent iterations at most")
    reg: float = Field(0.0, ge=0, description="alpha_W (alpha_H follows it)")
    l1_ratio: float = Field(0.0, ge=0, le=1)

    def estimator(self, seed: int, init: str | None = None) -> Any:
        from sklearn.decomposition import NMF

        return NMF(n_components=self.embedding_size, max_iter=self.epochs, alpha_W=self.reg, l1_ratio=self.l1_ratio,
                   random_state=seed, init=init)


_ESTIMATOR_FIELDS = {"n_components": "embedding_size", "n_iter": "epochs", "max_iter": "epochs", "alpha_W": "reg",
                     "l1_ratio": "l1_ratio"}


class _SklearnMF(FrameworkAdapter):
    """What SVD and NMF share: fit X, factors from ``transform`` and ``components_``, joblib files."""

    estimator_name: ClassVar[str]

    def _model(self, estimator: Any, matrix: Any, trained: np.ndarray, users: np.ndarray | None = None) -> FactorModel:
        users = estimator.transform(matrix) if users is None else users
        return FactorModel.unbiased(users, np.asarray(estimator.components_).T, trained)

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, config: BaseModel,
            seed: int, init: FactorModel | None = None) -> FactorModel:
        matrix = binary_matrix(user_idx, item_idx, n_users, n_items)
        with one_thread():
            estimator, users = self._fit(matrix, config, seed, init)
        return self._model(estimator, matrix, trained_rows(user_idx, n_users, None), users)

    def _fit(self, matrix: Any, config: BaseModel, seed: int, init: FactorModel | None) -> tuple[Any, np.ndarray | None]:
        estimator = config.estimator(seed)  # type: ignore[attr-defined]
        return estimator, estimator.fit_transform(matrix)

    def load(self, path: Path, params: dict[str, Any], training: Interactions) -> tuple[FactorModel, BaseModel]:
        import joblib

        estimator = joblib.load(path)
        if type(estimator).__name__ != self.estimator_name or not hasattr(estimator, "components_"):
            raise ValueError(f"{path}: not a fitted sklearn {self.estimator_name} (saved with joblib.dump)")
        n_items, n_users = estimator.components_.shape[1], training.n_users
        if n_items != training.n_items:
            raise ValueError(f"{path}: the model has {n_items} item columns, the training data {training.n_items} items")
        matrix = binary_matrix(training.user_idx, training.item_idx, n_users, n_items)
        native = {ours: estimator.get_params()[theirs] for theirs, ours in _ESTIMATOR_FIELDS.items()
                  if theirs in estimator.get_params() and ours in self.config_class.model_fields}
        config = self.config_class(**{**native, **params})
        return self._model(estimator, matrix, np.bincount(training.user_idx, minlength=n_users) > 0), config


class SklearnSVD(_SklearnMF):
    name: ClassVar[str] = "sklearn-svd"
    framework: ClassVar[str] = "sklearn TruncatedSVD"
    estimator_name: ClassVar[str] = "TruncatedSVD"
    config_class: ClassVar[type[BaseModel]] = SklearnSVDConfig
    capabilities: ClassVar[Capabilities] = Capabilities(can_fit=True, closed_form_rows=False, incremental=False,
                                                        sequential=False)


class SklearnNMF(_SklearnMF):
    name: ClassVar[str] = "sklearn-nmf"
    framework: ClassVar[str] = "sklearn NMF"
    estimator_name: ClassVar[str] = "NMF"
    config_class: ClassVar[type[BaseModel]] = SklearnNMFConfig
    capabilities: ClassVar[Capabilities] = Capabilities(can_fit=True, closed_form_rows=False, incremental=True,
                                                        sequential=False)

    def _fit(self, matrix: Any, config: BaseModel, seed: int, init: FactorModel | None) -> tuple[Any, np.ndarray | None]:
        """From scratch, or from ``init``'s non-negative factors (``init="custom"``)."""
        if init is None:
            return super()._fit(matrix, config, seed, init)
        assert isinstance(config, SklearnNMFConfig)
        estimator = config.estimator(seed, init="custom")
        w = np.clip(init.user_factors, 0, None).astype(np.float64)
        h = np.clip(init.item_factors.T, 0, None).astype(np.float64)
        users = estimator.fit_transform(matrix.astype(np.float64), W=np.ascontiguousarray(w), H=np.ascontiguousarray(h))
        return estimator, users
