"""Models trained outside Lethe (implicit, scikit-learn, a user's torch module) behind one adapter contract.

Each adapter is registered (:mod:`unlearn.registry`) as a base model under its framework name (``implicit-als``,
``implicit-bpr``, ``sklearn-svd``, ``sklearn-nmf``, ``torch``), so ``retrain``, ``sisa``, ``receraser`` and the
verifier's reference retrains train it like Lethe's own. Which methods apply to a framework's model, the
``incremental`` method and :func:`unlearn.methods.register_model` live with the methods: adapters know models only.
"""

from unlearn.adapters._implicit import ImplicitALS, ImplicitALSConfig, ImplicitBPR, ImplicitBPRConfig
from unlearn.adapters._protocol import Capabilities, FrameworkAdapter
from unlearn.adapters._sklearn import SklearnNMF, SklearnNMFConfig, SklearnSVD, SklearnSVDConfig
from unlearn.adapters._torch import EmbeddingModule, TorchFactorModel, TorchModule, TorchModuleConfig, module_class

__all__ = [
    "Capabilities",
    "EmbeddingModule",
    "FrameworkAdapter",
    "ImplicitALS",
    "ImplicitALSConfig",
    "ImplicitBPR",
    "ImplicitBPRConfig",
    "SklearnNMF",
    "SklearnNMFConfig",
    "SklearnSVD",
    "SklearnSVDConfig",
    "TorchFactorModel",
    "TorchModule",
    "TorchModuleConfig",
    "module_class",
]
