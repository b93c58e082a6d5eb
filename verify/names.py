"""The verifier's vocabulary: the models it compares, the metrics it measures and the checks it judges.

A verification report keeps its measurements as ``metrics[model][metric]`` and its verdicts as checks with a
``name``; both are signed, read back by the console, the audit, the benches and any outside reader. Every module
that writes or reads them spells them through this one module (no torch, no numpy: the console imports it
cheaply), so a metric cannot be measured under one name and plotted or judged under another. The strings
themselves are part of the report format: changing one changes what older reports mean.

Example usage::

    from verify.names import FORGETTING_USERS, REPREDICT, UNLEARNED, rbo_key

    report.metrics[UNLEARNED][REPREDICT]
    report.metrics[UNLEARNED][rbo_key(10, FORGETTING_USERS)]   # "rbo@10 forgetting users"
"""

from __future__ import annotations

# -- the models compared (keys of ``metrics``) ----------------------------------------------------------
ORIGINAL = "original"
"""The serving model before the erasure (what a no-op unlearner would still serve)."""
UNLEARNED = "unlearned"
"""The serving model after it."""
REFERENCE = "reference"
"""A retrain on the remaining data."""
RETRAIN_STAR = "retrain*"
"""A second retrain with another seed: the seed-noise floor (AltEraser's Retrain*)."""
DAMAGED = "damaged"
"""A retrain on a small seeded fraction of the remaining data: a model whose collateral damage is certain, the
negative control of every check that nothing else was harmed (other users' RBO and Recall, items' latent checks)."""
WORST_CASE = "worst case"
"""Not a model: the metric's failing extreme (e.g. an attack AUC of 0, every forgotten pair below every held-out
one), the negative control of a check no trained model is known to fail (over-unlearning)."""
MODELS = (ORIGINAL, UNLEARNED, REFERENCE, RETRAIN_STAR, DAMAGED)

# -- user groups ------------------------------------------------------------------------------------------
FORGETTING_USERS = "forgetting users"
"""Users with erased interactions."""
OTHER_USERS = "other users"
"""A seeded sample of everyone else (collateral effects)."""
USER_GROUPS = (FORGETTING_USERS, OTHER_USERS)

# -- membership-inference attacks -------------------------------------------------------------------------
SCORE_ATTACK = "score"
"""Score threshold: forgotten training pairs against the same users' held-out pairs."""
RECSYS_ATTACK = "recsys"
"""The recommender attack of Zhang et al. (CCS'21)."""
CALIBRATED_ATTACK = "calibrated"
"""Per-user calibrated (U-LiRA style): each forgotten user's rank statistic against K seeded retrains'."""
ATTACKS = (SCORE_ATTACK, RECSYS_ATTACK, CALIBRATED_ATTACK)
MIA_STATISTICS = ("auc", "tpr@1%fpr", "tpr@0.1%fpr")
"""What each attack's ROC is summarised by."""

# -- metrics (keys of ``metrics[model]``) -----------------------------------------------------------------
REPREDICT = "re-predict"
"""Mean σ(score) of the forgotten training pairs (AltEraser's re-predict score); also the name of its check."""
SCORE_CHANGE = "score change"
"""Mean |Δσ(score)| from the original on the forgotten pairs (what the "model replaced" check reads)."""
LATENT_USERS = "latent users"
"""Procrustes distance to the reference, forgetting users; also the name of its check."""
LATENT_ITEMS = "latent items"
"""Procrustes distance to the reference, items of the forgotten pairs; also the name of its check."""
CKA_ITEMS = "cka items"
"""Linear CKA with the reference, items of the forgotten pairs; also the name of its check."""
LATENT_METRICS = (LATENT_USERS, LATENT_ITEMS, CKA_ITEMS)

RBO_PREFIX = "rbo@"
DISTINCT_PREFIX = "distinct top-"
MIA_PREFIX = "mia "


def rbo_key(k: int, group: str) -> str:
    """RBO@k of a group's top-k lists with the reference's (``"rbo@10 forgetting users"``); also its check's name."""
    return f"{RBO_PREFIX}{k} {group}"


def distinct_key(k: int) -> str:
    """How many distinct top-k lists a model gives the forgetting users; also the name of the check that replaces
    RBO when the reference gives them all one cold-start list."""
    return f"{DISTINCT_PREFIX}{k} {FORGETTING_USERS}"


def mia_key(attack: str, statistic: str = "auc") -> str:
    """An attack's ROC statistic (``"mia score auc"``, ``"mia recsys tpr@1%fpr"``)."""
    return f"{MIA_PREFIX}{attack} {statistic}"


def recall_key(k: int) -> str:
    """Recall@k (of other users unless :func:`of_group` says otherwise)."""
    return f"recall@{k}"


def ndcg_key(k: int) -> str:
    """NDCG@k (of other users unless :func:`of_group` says otherwise)."""
    return f"ndcg@{k}"


def of_group(key: str, group: str) -> str:
    """A utility metric of one user group (``"recall@20 forgetting users"``)."""
    return f"{key} {group}"


# -- checks (``MetricCheck.name``) that are not named after the metric they judge -----------------------------
LINEAGE = "lineage"
"""The lineage proof (exact methods: no serving checkpoint trained on an erased id)."""
MODEL_REPLACED = "model replaced"
"""The unlearned model differs from the original (reads :data:`SCORE_CHANGE`)."""
LATENT_DISTANCE = "latent distance"
"""The latent checks when they cannot run (not applicable, or a model without embeddings)."""
RECALL_OTHER_USERS = of_group(recall_key(20), OTHER_USERS)
"""Utility: Recall@20 of other users must not drop (reads :func:`recall_key` ``(20)``)."""


def mia_check(attack: str, side: str) -> str:
    """An attack's check: ``side`` is ``"attack"`` (the model remembers) or ``"over-unlearning"`` (below chance)."""
    return f"{MIA_PREFIX}{attack} {side}"
