"""CFF rescue-model fusion ("Unlearning the unwanted data from a personalized recommendation model", §4).

1. The *faulty* model m1 is the serving rating-MF model, trained on data that holds the unwanted entries.
2. The *rescue* model m2 is a small rating MF trained on the unwanted entries only, each target replaced by
   its item's mean rating (Eq. 7) — over the remaining data; on implicit data, the item's mean over all users
   of the 0/1 matrix (its popularity).
3. The *convolution fusion function* (Algorithm 1) fuses the two models' latent features, one network for
   users and one for items: the two d-vectors stacked as a 2 × d image, ``Conv2d(1, C1, (2, 1))`` (the column
   filter w1·θ + w2·φ), ``Conv2d(C1, C2, (1, 1))``, ``Linear(d·C2, 512)``, ``Linear(512, d)``, then unit-norm.
   The fused model predicts ``μ + b_u + b_i + s·<û, î>`` (biases from m1, ``s`` a learnt scale; Eq. 9).

Deliberate difference from the paper: the paper never says what the fusion network is fitted to, and the
authors' published code (github.com/brijraj08/recsys-LBR-24, ``M_faulty_final.py``) applies it at its random
initialisation — the fused model is then m1's biases plus a near-random interaction term. That only looks like
a gain because their m1 (SGD, α = 0.03, β = 0.01, 150 epochs) overfits: its RMSE (1.10 on ML-100K) is worse
than its own biases alone (≈ 0.96), so dropping the factors helps; on a well-fitted m1 it hurts (BENCHMARKS.md,
CFF section). Here the network is fitted (Adam on the squared error) to the corrected entries plus the
remaining data (``remaining_sample``), so the fused features keep the users' other data intact, with early
stopping on a held-out share (``validation``) of the remaining entries: on ML-100K the fusion needs some 15–30
epochs to match m1's fit (5 left it worse than m1), and its validation error sits on plateaus for a few epochs
before it drops again, hence the patience of 8. Only the fusion networks, the scale and the biases learn; m1 and m2
stay frozen. Users with no remaining data get zero factors and bias, as a retrain would.
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
from unlearn.models import one_intra_op_thread, rating_targets
from unlearn.progress import ProgressCallback, no_progress
from unlearn.training_data import Interactions


class CFFOptions(BaseModel):
    """CFF's settings (``lethe train --method cff --model rating_mf -o fusion_epochs=20``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: int = Field(8, ge=1, description="out_channel of the (2, 1) column-filter convolution")
    channels2: int = Field(4, ge=1, description="out_channel2 of the 1 × 1 convolution")
    hidden: int = Field(512, ge=1, description="width of fc1")
    fusion_epochs: int = Field(30, ge=1, description="most epochs of the fusion fit (early stopping ends it sooner)")
    learning_rate: float = Field(0.003, gt=0, description="Adam step size of the fusion")
    batch_size: int = Field(4096, ge=1)
    remaining_sample: float = Field(1.0, gt=0, le=1, description="share of the remaining data the fusion fits")
    validation: float = Field(0.05, ge=0, lt=1, description="share of the remaining entries held out for early "
                              "stopping; 0 runs every epoch")
    patience: int = Field(8, ge=1, description="epochs without a better validation error before stopping")
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


class FusedModel(torch.nn.Module):
    """What the fusion fit learns: both sides' networks, the scale and the biases over frozen m1 and m2 (Eq. 9)."""

    def __init__(self, faulty: RatingMFModel, rescue: RatingMFModel, options: CFFOptions, scale: float) -> None:
        super().__init__()
        d = faulty.user_factors.shape[1]
        self.users, self.items = FusionNet(d, options), FusionNet(d, options)
        self.user_bias = torch.nn.Parameter(torch.from_numpy(faulty.user_bias.copy()))
        self.item_bias = torch.nn.Parameter(torch.from_numpy(faulty.item_bias.copy()))
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)))
        self.global_mean = faulty.global_mean
        for name, array in (("p1", faulty.user_factors), ("q1", faulty.item_factors),
                            ("p2", rescue.user_factors), ("q2", rescue.item_factors)):
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array)), persistent=False)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Predicted ratings; each distinct user and item of the batch goes through its network once."""
        u_rows, u_at = torch.unique(users, return_inverse=True)
        i_rows, i_at = torch.unique(items, return_inverse=True)
        fused_u = self.users(self.p1[u_rows], self.p2[u_rows])[u_at]
        fused_i = self.items(self.q1[i_rows], self.q2[i_rows])[i_at]
        return self.global_mean + self.user_bias[users] + self.item_bias[items] + self.scale * (fused_u * fused_i).sum(1)

    @torch.no_grad()
    def export(self, trained: np.ndarray) -> RatingMFModel:
        """The fused features as a rating-MF model; users without remaining data get zero factors and bias."""
        fused_users = (self.scale * self.users(self.p1, self.p2)).numpy()
        fused_users[~trained] = 0.0
        biases = self.user_bias.detach().numpy().copy()
        biases[~trained] = 0.0
        return RatingMFModel(fused_users, self.items(self.q1, self.q2).numpy(), self.item_bias.detach().numpy(),
                             trained, biases, self.global_mean)


def item_means(remaining: Interactions, ratings: np.ndarray | None) -> np.ndarray:
    """Each item's mean rating over the remaining data (implicit: its popularity); unknown items: the mean."""
    counts = np.bincount(remaining.item_idx, minlength=remaining.n_items).astype(np.float64)
    if ratings is None:
        return (counts / max(remaining.n_users, 1)).astype(np.float32)
    sums = np.bincount(remaining.item_idx, weights=ratings, minlength=remaining.n_items)
    overall = float(ratings.mean()) if len(ratings) else 0.0
    return np.where(counts > 0, sums / np.maximum(counts, 1), overall).astype(np.float32)


def fit_fusion(
    net: FusedModel, train: tuple[np.ndarray, np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray, np.ndarray],
    options: CFFOptions, rng: np.random.Generator, progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Adam on the squared error; with held-out entries, stop after ``patience`` stale epochs and keep the best."""
    optimizer = torch.optim.Adam(net.parameters(), lr=options.learning_rate)
    u_t, i_t, r_t = (torch.from_numpy(np.asarray(a)) for a in (train[0], train[1], train[2].astype(np.float32)))
    v_u, v_i, v_r = (torch.from_numpy(np.asarray(a)) for a in (held_out[0], held_out[1], held_out[2].astype(np.float32)))
    best, best_epoch, best_state, stale, history = float("inf"), 0, None, 0, []
    stage = "cff fusion epochs"
    with one_intra_op_thread():  # many small ops a batch: see one_intra_op_thread
        for epoch in range(options.fusion_epochs):
            order = torch.from_numpy(rng.permutation(len(u_t)))
            for start in range(0, len(order), options.batch_size):
                batch = order[start : start + options.batch_size]
                loss = (net(u_t[batch], i_t[batch]) - r_t[batch]).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            progress(stage, epoch + 1, options.fusion_epochs)
            if not len(v_u):
                continue
            with torch.no_grad():
                error = float((net(v_u, v_i) - v_r).pow(2).mean().sqrt())
            history.append(round(error, 4))
            if error < best - 1e-4:
                best, best_epoch, stale = error, epoch + 1, 0
                best_state = {name: value.detach().clone() for name, value in net.state_dict().items()}
            else:
                stale += 1
                if stale >= options.patience:
                    progress(stage, options.fusion_epochs, options.fusion_epochs)
                    break
    if best_state is not None:
        net.load_state_dict(best_state)
    return {"fusion_epochs_run": len(history) or options.fusion_epochs, "best_epoch": best_epoch or None,
            "validation_rmse": history}


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
    draw = rng.random(len(users))
    held = draw < options.validation
    keep = ~held & (draw < options.validation + options.remaining_sample * (1 - options.validation))
    train = (np.concatenate([users[keep], forgotten.user_idx]), np.concatenate([items[keep], forgotten.item_idx]),
             np.concatenate([targets[keep], corrected]))
    scale = float(np.abs(faulty.score(train[0][:4096], train[1][:4096]) - faulty.global_mean).mean()) + 1e-3
    net = FusedModel(faulty, rescue, options, scale)
    facts = fit_fusion(net, train, (users[held], items[held], targets[held]), options, rng, progress)
    model = net.export(np.bincount(remaining.user_idx, minlength=remaining.n_users) > 0)
    facts = {"rescue_entries": len(forgotten), "fusion_entries": len(train[0]), "held_out": int(held.sum()),
             "explicit": remaining_ratings is not None, **facts, "rescue_seconds": round(rescue_seconds, 3),
             "seconds": round(time.perf_counter() - started, 3)}
    return model, facts


class CFF(ApproximateMethod):
    """Faulty model + rescue model + convolution fusion; rating MF base model."""

    options_class: ClassVar[type[BaseModel]] = CFFOptions
    #: Read by the verifier: the latent-distance checks do not apply to this method's models.
    latent_space_note: ClassVar[str] = (
        "CFF's factors are fused features — a learnt non-linear map of the faulty and the rescue model's — so no "
        "rotation aligns them with a retrain's; re-predict, RBO, both attacks and utility carry the claim")
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
