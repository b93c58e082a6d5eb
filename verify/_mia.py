"""Membership inference against the models a verification compares: does a model still carry the forgotten data?

Three attacks, each summarised by its full ROC (``roc_curve``/``roc_auc_score``), AUC and TPR at 1% and 0.1% FPR:

(a) **Score attack** (the loss-threshold attack of Yeom et al., CSF 2018): the model's score of each forgotten
    training pair against its score of the same users' held-out test pairs, which no model ever trained on.
    The BPR loss ``-log σ(s)`` is monotone in the score ``s``, so one ROC covers score and loss thresholds.
(b) **Recommender attack** of Zhang et al. (CCS 2021): black-box, it only sees a user's history and the top-100
    list the model recommends. A user's feature is the mean of the history's item vectors minus the rank-weighted
    mean of the recommended items' vectors (weight ``(100 - j) / 5050`` at rank ``j = 0..99``); item vectors come
    from the attacker's own factorisation of the interaction matrix. A shadow recommender trained on users
    disjoint from the forgotten ones gives labelled member / non-member features, on which an MLP is trained.
    Where it still deviates from the paper (issue 19): the ROC compares the forgotten users as the model shows them
    with the same users as Retrain* shows them, not member with non-member users (the question is whether the
    model now treats them as a retrain does); item vectors are a truncated SVD (at most 32 dimensions) of the
    remaining training data, not 100-dimensional vectors from a separate split (the verifier has no split to
    spare); the MLP is small and L2-regularised (32, 8) as shadow sets can be a few hundred users. Whole users that
    every model shows one cold-start list are not judged by it (``verify._evidence``).
(c) **Calibrated per-user attack** (U-LiRA style, Hayes et al. SaTML 2025, after LiRA, Carlini et al. S&P 2022): a
    shared threshold over all users overstates forgetting, since users differ in how recognisable their items are.
    Each forgotten user's statistic (the mean percentile rank of their forgotten items in the model's scores: scale
    free, so ensembles and single models compare) is set against its distribution under K seeded retrains that never
    saw it: Gaussian, per-user mean, variance pooled over users (LiRA's fixed-variance variant, sound for small K).
    With equal variances the one-sided likelihood ratio is monotone in the z-score, so the ROC of the z-scores is
    the ratio test's: the model's z against the retrains' own leave-one-out z (the calibrated null).

An AUC near 0.5 means the attack cannot tell forgotten data from data never trained on; well above 0.5, the
model remembers; far *below* 0.5, the model treats the forgotten data as less familiar than unseen data, a
trace of over-unlearning that is itself detectable (the "Streisand effect").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from unlearn.models import Recommender
from unlearn.training_data import Interactions

FPR_GRID = np.unique(np.concatenate([[0.001, 0.005, 0.01], np.linspace(0.0, 1.0, 41)]))
"""False-positive rates at which reports keep an ROC: a fixed grid, so a curve says nothing about single scores."""

RECOMMENDATION_DEPTH = 100
"""Length of the recommendation list the recommender attack sees (Zhang et al. use the top 100)."""

Trainer = Callable[[Interactions, int], Recommender]
"""Trains the deployment's base model on some interactions with a seed (how the shadow recommender is made)."""


@dataclass(frozen=True)
class AttackROC:
    """One attack on one model: AUC, TPR at low FPR and the ROC sampled on :data:`FPR_GRID`."""

    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    tpr_grid: np.ndarray
    positives: int
    negatives: int


def attack_roc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> AttackROC:
    """ROC of an attack whose higher scores mean "member", on members (positives) and non-members (negatives).

    TPR at an FPR ``x`` is the best TPR among thresholds whose FPR does not exceed ``x`` (the conservative reading
    of a step ROC; with few negatives, TPR at 0.1% FPR is the TPR at zero false positives).
    """
    members = np.asarray(member_scores, dtype=np.float64)
    nonmembers = np.asarray(nonmember_scores, dtype=np.float64)
    if members.size == 0 or nonmembers.size == 0:
        raise ValueError(f"an ROC needs members and non-members, got {members.size} and {nonmembers.size}")
    labels = np.concatenate([np.ones(members.size), np.zeros(nonmembers.size)])
    scores = np.concatenate([members, nonmembers])
    fpr, tpr, _ = roc_curve(labels, scores)

    def tpr_at(x: float) -> float:
        return float(tpr[fpr <= x + 1e-12].max())

    return AttackROC(
        auc=float(roc_auc_score(labels, scores)),
        tpr_at_1pct_fpr=tpr_at(0.01),
        tpr_at_01pct_fpr=tpr_at(0.001),
        tpr_grid=np.array([tpr_at(x) for x in FPR_GRID]),
        positives=int(members.size),
        negatives=int(nonmembers.size),
    )


def auc_tolerance(positives: int, negatives: int, margin: float, z: float) -> float:
    """How far an AUC may stray from its calibration before it counts: the policy margin, widened for small samples.

    ``0.5 / sqrt(min(n+, n-))`` bounds the standard error of an empirical AUC whatever the score distributions
    (Birnbaum & Klose 1957: var ≤ A(1 - A) / min(n+, n-)); ``z`` of them are allowed. One forgotten user gives the
    user-level attack no power at all, and the report says so through this tolerance rather than by guessing.
    """
    return max(margin, z * 0.5 / math.sqrt(max(1, min(positives, negatives))))


def score_attack(
    model: Recommender, members: tuple[np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray]
) -> AttackROC:
    """Attack (a): scores of the forgotten training pairs (members) vs the same users' held-out pairs."""
    return attack_roc(model.score(*members), model.score(*held_out))


def rank_statistic(model: Recommender, users: np.ndarray, forgotten: sp.csr_matrix) -> np.ndarray:
    """Per user: the mean percentile rank (1 = top) of their forgotten items among every item in the model's scores."""
    users = np.asarray(users, dtype=np.int64)
    scores = np.asarray(model.score_all(users), dtype=np.float64)
    ranks = scores.argsort(axis=1).argsort(axis=1) / max(1, scores.shape[1] - 1)
    rows = forgotten[users]
    return np.asarray(rows.multiply(ranks).sum(axis=1)).ravel() / np.maximum(np.asarray(rows.sum(axis=1)).ravel(), 1)


def calibrated_attack(target: np.ndarray, retrains: np.ndarray) -> AttackROC:
    """Attack (c): per-user z-scores of ``target`` (one statistic per user) against ``retrains`` (K × users).

    ``z = (x - mean of the others) / (σ · sqrt(1 + 1/m))`` with ``m`` retrains in the mean and σ pooled over users, so
    that a retrain's leave-one-out z (the null, K × users negatives) and the target's z (positives) share one scale.
    """
    retrains = np.asarray(retrains, dtype=np.float64)
    k = len(retrains)
    if k < 2:
        raise ValueError(f"a calibrated attack needs at least two retrains, got {k}")
    sigma = max(float(np.sqrt(retrains.var(axis=0, ddof=1).mean())), 1e-12)

    def z(values: np.ndarray, others: np.ndarray) -> np.ndarray:
        return (values - others.mean(axis=0)) / (sigma * np.sqrt(1 + 1 / len(others)))

    null = np.concatenate([z(retrains[i], np.delete(retrains, i, axis=0)) for i in range(k)])
    return attack_roc(z(np.asarray(target, dtype=np.float64), retrains), null)


def _rank_weights(depth: int) -> np.ndarray:
    """Zhang et al.'s weights ``(100 - j) / 5050``, renormalised when fewer than 100 items can be listed."""
    weights = (RECOMMENDATION_DEPTH - np.arange(depth)).astype(np.float64)
    return weights / weights.sum()


class RecommenderAttack:
    """Attack (b), trained once on a shadow recommender and then applied to every model a verification compares."""

    def __init__(self, item_vectors: np.ndarray, classifier: Pipeline) -> None:
        self.item_vectors = item_vectors
        self.classifier = classifier

    @classmethod
    def train(cls, remaining: Interactions, trainer: Trainer, seed: int) -> "RecommenderAttack":
        """Build the attacker from the remaining training data alone (never the forgotten users).

        1. item vectors: a truncated SVD of the interaction matrix (the attacker's own factorisation);
        2. the users with training data are split at random into shadow members and non-members; the shadow
           recommender trains on the members' interactions only (the forgotten users are in neither group);
        3. features of both groups under the shadow recommender (non-members get what it shows strangers);
        4. an MLP (standardised input, two hidden layers, L2 ``alpha=1`` as shadow sets can be small) learns
           member vs non-member.
        """
        rng = np.random.default_rng(seed)
        matrix = remaining.csr()
        components = max(1, min(32, min(matrix.shape) - 1))
        item_vectors = TruncatedSVD(components, random_state=seed).fit(matrix).components_.T
        pool = rng.permutation(np.unique(remaining.user_idx))
        shadow_in, shadow_out = pool[: len(pool) // 2], pool[len(pool) // 2 :]
        shadow = trainer(remaining.subset(np.isin(remaining.user_idx, shadow_in)), seed)
        attack = cls(item_vectors, make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(32, 8), solver="lbfgs", alpha=1.0, max_iter=2000, random_state=seed
        )))
        features = np.vstack([attack.features(shadow, shadow_in, matrix), attack.features(shadow, shadow_out, matrix)])
        labels = np.concatenate([np.ones(len(shadow_in)), np.zeros(len(shadow_out))])
        # lbfgs may stop at max_iter; the attack's ROC, not convergence, is judged. One BLAS thread: the matrices are
        # tiny (shadow users × 32), so threads only add synchronisation (measured ~50 s → seconds on a busy 2-core box).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            attack.classifier.fit(features, labels)
        return attack

    def features(self, model: Recommender, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Zhang et al.'s difference vectors: history centre minus the rank-weighted centre of the top-100 list.

        The list excludes the history, as a recommender never re-recommends what a user already has. On a catalogue
        under 400 items it is cut to a quarter of the catalogue: a list of nearly every item says nothing.
        """
        users = np.asarray(users, dtype=np.int64)
        depth = max(1, min(RECOMMENDATION_DEPTH, model.n_items // 4))
        recommended = model.recommend(users, depth, exclude=history)
        rows = history[users]
        counts = np.maximum(np.asarray(rows.sum(axis=1)).ravel(), 1.0)
        centre = np.asarray(rows @ self.item_vectors) / counts[:, None]
        return centre - np.einsum("j,ujd->ud", _rank_weights(depth), self.item_vectors[recommended])

    def member_probability(self, model: Recommender, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """The attacker's probability that each user's history trained ``model``."""
        return self.classifier.predict_proba(self.features(model, users, history))[:, 1]
