"""The noise-injection scenario of AltEraser (§5.1) and CFF (§4.3.1), as a reusable request generator.

``inject_noise`` splits a data set per user (as ingestion would), picks ``users`` (a share, or a count) of the
users at random, and gives each of them new training interactions on items they never interacted with, rated
``rating`` (5, the top of the scale: "noise expected to bring those items into the recommendations"; ``None``
for implicit data). How many depends on ``scope``:

- ``user`` (default; the paper's text, "x % of users … unlearn their y % data"): ``round(data_fraction · n_u)``
  items drawn uniformly per user.
- ``catalogue`` (CFF's published code, ``M_faulty_final.py``): one random set of ``round(data_fraction ·
  n_items)`` items shared by every noisy user, each getting every one of them they never rated — at 30 % of
  ML-100K's items about five times an average user's whole history, so far more noise rows than ``user``.
  Deliberate difference from that code: it also overwrote the users' own training ratings and the cells held
  out for its test set with 5; here noise only adds new (user, item) pairs, so erasing it restores the clean
  data and the test set stays clean.

The result is ingestable (its split is fixed, so the noise stays in training and the test set stays clean)
and carries one :class:`NoiseErasure` per noisy user: the interaction ids that remove exactly the injected
rows.

Ids follow the store's contract (``InteractionStore.load``): interaction ids are 1..n in the frame's order,
and the noise rows are appended after every original row. Everything is drawn from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from unlearn.data import RawInteractions, content_digest, per_user_split


class NoiseScenario(BaseModel):
    """x% (or a count) of users, y% of their data as injected noise; recorded in the data set's params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_fraction: float | None = Field(None, gt=0, le=1, description="share of users made noisy")
    user_count: int | None = Field(None, ge=1, description="number of users made noisy (instead of a share)")
    data_fraction: float = Field(gt=0, description="noise rows per noisy user, as a share of their rows")
    rating: float | None = Field(5.0, description="rating of a noise row; None for implicit data")
    seed: int = 0
    test_fraction: float = Field(0.2, ge=0, lt=1, description="per-user split applied before injecting")
    split_seed: int = 0
    base: str = Field("all", pattern="^(all|train)$", description="n_u counts all the user's rows or train only")
    scope: str = Field("user", pattern="^(user|catalogue)$",
                       description="data_fraction of each user's rows, or of the item catalogue (shared items)")

    @model_validator(mode="after")
    def _one_user_size(self) -> "NoiseScenario":
        if (self.user_fraction is None) == (self.user_count is None):
            raise ValueError("give exactly one of user_fraction or user_count")
        if self.scope == "catalogue" and self.data_fraction > 1:
            raise ValueError("data_fraction is a share of the item catalogue: at most 1 with scope='catalogue'")
        return self


class NoiseErasure(BaseModel):
    """What one noisy subject asks to have forgotten: exactly their injected interactions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str
    interaction_ids: list[int]


@dataclass(frozen=True)
class NoisyData:
    """The data set with noise (ingest ``raw``), the injected rows, and the erasures that remove them."""

    raw: RawInteractions
    injected: pd.DataFrame  # subject, item, rating, interaction_id
    scenario: NoiseScenario

    def requests(self) -> list[NoiseErasure]:
        return [NoiseErasure(subject=str(subject), interaction_ids=group["interaction_id"].astype(int).tolist())
                for subject, group in self.injected.groupby("subject", sort=True)]

    def interaction_ids(self) -> np.ndarray:
        return self.injected["interaction_id"].to_numpy(np.int64)


def inject_noise(raw: RawInteractions, scenario: NoiseScenario) -> NoisyData:
    """The data set split per user with noise rows appended to the chosen users' training data."""
    frame = raw.frame.copy()
    if not raw.fixed_split:
        frame["split"] = np.asarray(per_user_split(frame, scenario.test_fraction, scenario.split_seed), dtype=object)
    rng = np.random.default_rng(scenario.seed)
    subjects = np.sort(frame["subject"].unique())
    n_noisy = scenario.user_count or max(1, int(round(scenario.user_fraction * len(subjects))))  # type: ignore[operator]
    if n_noisy > len(subjects):
        raise ValueError(f"{n_noisy} noisy users asked for, the data set has {len(subjects)}")
    noisy = np.sort(rng.choice(subjects, size=n_noisy, replace=False))
    items = np.sort(frame["item"].unique())
    base = frame if scenario.base == "all" else frame[frame["split"] == "train"]
    sizes = base.groupby("subject").size()
    seen = frame[frame["subject"].isin(noisy)].groupby("subject")["item"].agg(set)
    shared = (np.sort(rng.choice(items, size=int(round(scenario.data_fraction * len(items))), replace=False))
              if scenario.scope == "catalogue" else None)
    rows = []
    for subject in noisy:
        if shared is not None:
            rows.extend((subject, item) for item in shared[~np.isin(shared, list(seen[subject]))])
            continue
        unseen = items[~np.isin(items, list(seen[subject]))]
        count = min(int(round(scenario.data_fraction * sizes.get(subject, 0))), len(unseen))
        rows.extend((subject, item) for item in rng.choice(unseen, size=count, replace=False))
    if not rows:
        raise ValueError("the scenario injects no row (data_fraction too small for these users)")
    noise = pd.DataFrame(rows, columns=["subject", "item"])
    noise["rating"] = np.float64(np.nan if scenario.rating is None else scenario.rating)
    noise["timestamp"] = pd.array([pd.NA] * len(noise), dtype="Int64")
    noise["split"] = "train"
    out = pd.concat([frame, noise], ignore_index=True)
    out["split"] = out["split"].astype(str)
    noise["interaction_id"] = np.arange(len(frame) + 1, len(out) + 1, dtype=np.int64)
    params = {**raw.params, "noise": scenario.model_dump(mode="json"), "noise_rows": len(noise),
              "clean_digest": raw.digest}
    noisy_raw = RawInteractions(name=f"{raw.name}+noise", source=raw.source, path=raw.path, frame=out,
                                digest=content_digest(out), fixed_split=True, params=params)
    return NoisyData(noisy_raw, noise[["subject", "item", "rating", "interaction_id"]], scenario)
