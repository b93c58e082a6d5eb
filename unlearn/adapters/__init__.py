"""Models trained outside Lethe (implicit, scikit-learn, a user's torch module): adapters and registration.

Each adapter is registered as a base model under its framework name (``implicit-als``, ``implicit-bpr``,
``sklearn-svd``, ``sklearn-nmf``, ``torch``), so ``retrain``, ``sisa``, ``receraser`` and the verifier's
reference retrains train it like Lethe's own; ``incremental`` is the warm start through a framework's own
continued fit. ``register_model`` records an already trained model with its training data as a deployment.
Imported by :mod:`unlearn.methods`, so the base models and the method exist wherever methods do.
"""

from unlearn.adapters._protocol import ADAPTERS, Capabilities, FrameworkAdapter, get_adapter, register_adapter
from unlearn.adapters import _implicit, _sklearn, _torch  # noqa: F401 - each registers its adapters
from unlearn.adapters._implicit import ImplicitALSConfig, ImplicitBPRConfig
from unlearn.adapters._incremental import IncrementalFit, IncrementalOptions
from unlearn.adapters._sklearn import SklearnNMFConfig, SklearnSVDConfig
from unlearn.adapters._torch import EmbeddingModule, TorchFactorModel, TorchModuleConfig, module_class
from unlearn.adapters._applicability import (
    SINGLE_MODEL_METHODS,
    MethodApplicability,
    applicable_methods,
    framework_methods,
    require_applicable,
)
from unlearn.adapters._register import deployment_methods, register_model
from unlearn.methods import METHODS, register_method
from unlearn.models import BASE_MODELS

for _adapter in ADAPTERS.values():
    BASE_MODELS.setdefault(_adapter.name, _adapter.spec())
if "incremental" not in METHODS:
    register_method(IncrementalFit("incremental"))

__all__ = [
    "ADAPTERS",
    "SINGLE_MODEL_METHODS",
    "Capabilities",
    "EmbeddingModule",
    "FrameworkAdapter",
    "ImplicitALSConfig",
    "ImplicitBPRConfig",
    "IncrementalFit",
    "IncrementalOptions",
    "MethodApplicability",
    "SklearnNMFConfig",
    "SklearnSVDConfig",
    "TorchFactorModel",
    "TorchModuleConfig",
    "applicable_methods",
    "framework_methods",
    "deployment_methods",
    "get_adapter",
    "module_class",
    "register_adapter",
    "register_model",
    "require_applicable",
]
