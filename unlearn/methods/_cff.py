"""CFF rescue-model fusion ("Unlearning the unwanted data from a personalized recommendation model", §4).

1. The *faulty* model m1 is the serving rating-MF model, trained on data that holds the unwanted entries.
2. The *rescue* model m2 is a small rating MF trained on the unwanted entries only, each target replaced by
   its item's mean rating (Eq. 7) — over the remaining data; on implicit data, the item's mean over all users
   of the 0/1 matrix (its popularity).
3. The *convolution fusion function* (Algorithm 1) fuses the two models' latent features, one network for
   users and one for items: the two d-vectors stacked as a 2 × d image, ``Conv2d(1, C1, (2, 1))`` (the column
   filter w1·θ + w2·φ), ``Conv2d(C1, C2, (1, 1))``, ``Linear(d·C2, 512)``, ``Linear(512, d)``, then unit-norm.
   The fused model predicts ``μ + b_u + b_i + s·<û, î>`` (biases from m1, ``s`` a learnt scale; Eq. 9).

The paper does not say what the fusion network is fitted to; here it is fitted (a few epochs of Adam on the
squared error) to the corrected entries plus a sample (``remaining_sample``) of the remaining data, so the
fused features keep the users' other data intact. Only the fusion network, the scale and the biases learn;
m1 and m2 stay frozen. Users with no remaining data get zero factors and bias, as a retrain would.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.methods._approximate import ApproximateMethod
from unlearn.methods._protocol import MethodSettings
from unlearn.models import FactorModel, RatingMFConfig, RatingMFModel, train_rating_mf
from unlearn.models._rating_mf import rating_targets
from unlearn.progress import ProgressCallback, no_progress
from unlearn.training_data import Interactions


class CFFOptions(BaseModel):
    """CFF's settings (``lethe train --method cff --model rating_mf -o fusion_epochs=5``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: int = Field(8, ge=1, description="out_channel of the (2, 1) column-filter convolution")
    channels2: int = Field(4, ge=1, description="out_channel2 of the 1 × 1 convolution")
    hidden: int = Field(512, ge=1, description="width of fc1")
    fusion_epochs: int = Field(5, ge=1)
    learning_rate: float = Field(0.003, gt=0, description="Adam step size of the fusion")
    batch_size: int = Field(4096, ge=1)
    remaining_sample: float = Field(1.0, gt=0, le=1, description="share of the remaining data the fusion fits")
    rescue_epochs: int = Field(20, ge=1, description="epochs of the rescue model m2")


class FusionNet(torch.nn.Module):
    """Algorithm 1's Function_CF for one side: two d-vectors in, one unit d-vector out."""

    def __init__(self, d: int, options: CFFOptions) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, options.channels, (2, 1), stride=1)
        self.conv2 = torch.nn.Conv2d(options.channels, options.channels2, (1, 1), stride=1)
        self.fc1 = torch.nn.Linear(d * options.channels2, options.hidden)
        self.fc2 = torch.nn.Linear(options.hidden, d)

    def forward(self, faulty: torch.Tensor, rescue: torch.Tensor) -> torch.Tensor:
        x = torch.stack([faulty, rescue], 1).unsqueeze(1)  # (N, 1, 2, d)
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))  # (N, C2, 1, d)
        x = self.fc2(torch.relu(self.fc1(x.flatten(1))))
        return x / x.pow(2).sum(-1).sqrt().clamp_min(1e-12).detach().unsqueeze(-1)


def item_means(remaining: Interactions, ratings: np.ndarray | None) -> np.ndarray:
    """Each item's mean rating over the remaining data (implicit: its popularity); unknown items: the mean."""
    counts = np.bincount(remaining.item_idx, minlength=remaining.n_items).astype(np.float64)
    if ratings is None:
        return (counts / max(remaining.n_users, 1)).astype(np.float32)
    sums = np.bincount(remaining.item_idx, weights=ratings, minlength=remaining.n_items)
    overall = float(ratings.mean()) if len(ratings) else 0.0
    return np.where(counts > 0, sums / np.maximum(counts, 1), overall).astype(np.float32)


def cff_unlearn(
    faulty: RatingMFModel, remaining: Interactions, forgotten: Interactions, config: RatingMFConfig,
    options: CFFOptions, seed: int, remaining_ratings: np.ndarray | None = None,
    progress: ProgressCallback = no_progress,
) -> tuple[RatingMFModel, dict[str, Any]]:
    """Rescue model on the corrected unwanted entries, then the fused model; explicit when ratings are given."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    means = item_means(remaining, remaining_ratings)
    corrected = means[forgotten.item_idx]
    rescue = train_rating_mf(forgotten.user_idx, forgotten.item_idx, remaining.n_users, remaining.n_items,
                             config.model_copy(update={"epochs": options.rescue_epochs}), seed, ratings=corrected)
    rescue_seconds = time.perf_counter() - started
    users, items, targets = rating_targets(remaining.user_idx, remaining.item_idx, remaining.n_items,
                                           remaining_ratings, config.negatives, rng)
    keep = rng.random(len(users)) < options.remaining_sample
    users = np.concatenate([users[keep], forgotten.user_idx])
    items = np.concatenate([items[keep], forgotten.item_idx])
    targets = np.concatenate([targets[keep], corrected])

    d = faulty.user_factors.shape[1]
    frozen = {name: torch.from_numpy(array) for name, array in (
        ("p1", faulty.user_factors), ("q1", faulty.item_factors),
        ("p2", rescue.user_factors), ("q2", rescue.item_factors))}
    user_net, item_net = FusionNet(d, options), FusionNet(d, options)
    user_bias = torch.nn.Parameter(torch.from_numpy(faulty.user_bias.copy()))
    item_bias = torch.nn.Parameter(torch.from_numpy(faulty.item_bias.copy()))
    scale = torch.nn.Parameter(torch.tensor(float(np.abs(faulty.score(users[:4096], items[:4096])
                                                          - faulty.global_mean).mean()) + 1e-3))
    parameters = [*user_net.parameters(), *item_net.parameters(), user_bias, item_bias, scale]
    optimizer = torch.optim.Adam(parameters, lr=options.learning_rate)
    u_t, i_t, r_t = torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(targets.astype(np.float32))
    mean = faulty.global_mean
    stage = "cff fusion epochs"
    for epoch in range(options.fusion_epochs):
        order = torch.from_numpy(rng.permutation(len(users)))
        for start in range(0, len(order), options.batch_size):
            batch = order[start : start + options.batch_size]
            u, i = u_t[batch], i_t[batch]
            fused_u = user_net(frozen["p1"][u], frozen["p2"][u])
            fused_i = item_net(frozen["q1"][i], frozen["q2"][i])
            prediction = mean + user_bias[u] + item_bias[i] + scale * (fused_u * fused_i).sum(1)
            loss = (prediction - r_t[batch]).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        progress(stage, epoch + 1, options.fusion_epochs)
    with torch.no_grad():
        fused_users = (scale * user_net(frozen["p1"], frozen["p2"])).numpy()
        fused_items = item_net(frozen["q1"], frozen["q2"]).numpy()
        trained = np.bincount(remaining.user_idx, minlength=remaining.n_users) > 0
        fused_users[~trained] = 0.0
        biases = user_bias.detach().numpy().copy()
        biases[~trained] = 0.0
        model = RatingMFModel(fused_users, fused_items, item_bias.detach().numpy(), trained, biases, mean)
    facts = {"rescue_entries": len(forgotten), "fusion_entries": len(users), "explicit": remaining_ratings is not None,
             "rescue_seconds": round(rescue_seconds, 3), "seconds": round(time.perf_counter() - started, 3)}
    return model, facts


class CFF(ApproximateMethod):
    """Faulty model + rescue model + convolution fusion; rating MF base model."""

    options_class: ClassVar[type[BaseModel]] = CFFOptions
    base_models: ClassVar[tuple[str, ...]] = ("rating_mf",)

    def unlearn(
        self, model: FactorModel, remaining: Interactions, forgotten: Interactions, settings: MethodSettings,
        seed: int, progress: ProgressCallback = no_progress,
    ) -> tuple[FactorModel, dict[str, Any]]:
        """The engine's path carries no ratings (implicit targets, as the deployment was trained)."""
        if not isinstance(model, RatingMFModel):
            raise TypeError("CFF fuses rating-MF models")
        config = settings.model_config_object()
        assert isinstance(config, RatingMFConfig)
        return cff_unlearn(model, remaining, forgotten, config, CFFOptions(**settings.options), seed,
                           progress=progress)
