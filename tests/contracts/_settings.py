"""Small, fast settings for any registered base model or method, derived from what each declares.

A newly registered model or method runs through the contract suites without editing them; only a method whose
declared capabilities do not say how to train it small (LASER: a base model that continues training, its walks)
has an entry in :data:`OVERRIDES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from unlearn.methods import MethodSettings, UnlearningMethod
from unlearn.registry import base_model, base_models

EXAMPLE_TORCH_MODULE = str(Path(__file__).resolve().parents[2] / "examples" / "torch_embedding_model.py") + ":EmbeddingMF"
SMALL = {"epochs": 2, "iterations": 2, "embedding_size": 8, "factors": 8, "batch_size": 256, "n_components": 8,
         "max_iter": 20}

OVERRIDES: dict[str, dict[str, Any]] = {
    "laser": {"base_model": "dmf", "model": {"epochs": 2, "batch_size": 256, "learning_rate": 0.01},
              "options": {"walks": {"dimensions": 8, "epochs": 1}}},
}


def small_config(name: str) -> dict[str, Any]:
    """The base model's config with every size and duration field it has set small."""
    config_class: type[BaseModel] = base_model(name).config_class
    if name == "torch":
        return {"module": EXAMPLE_TORCH_MODULE, "params": {"embedding_size": 8, "epochs": 2}}
    return {key: value for key, value in SMALL.items() if key in config_class.model_fields}


def method_settings(method: UnlearningMethod, shards: int = 2) -> MethodSettings:
    """Settings that fit ``method`` quickly: its first declared base model (BPR when it takes any), small."""
    override = OVERRIDES.get(method.name, {})
    declared = method.base_models
    model_name = override.get("base_model") or (declared[0] if declared else "bpr")
    assert model_name in base_models(), f"{method.name}: base model {model_name!r} is not registered"
    return MethodSettings(method=method.name, base_model=model_name, shards=method.fixed_shards or shards,
                          model=override.get("model", small_config(model_name)), options=override.get("options", {}))
