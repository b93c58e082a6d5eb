"""AltEraser (Liu et al., "Forgetting Fast in Recommender Systems", RecSys'22, Algorithm 1).

Starting from the serving model (warm start), AltEraser minimises the base model's loss on the remaining
data by alternating optimisation, one row at a time with the other side fixed, each row by a 2nd-order
method:

1. *erase pass* over the users, then the items, that occur in the forgotten data;
2. passes over every remaining user, then every item, while the stopping criterion is not met: a pass
   runs while the last pass (the erase pass first) lowered the objective by at least ``tol`` of its value,
   at most ``max_passes`` times. A pass's decrease is summed from its row updates, so the objective is
   evaluated once (at the start, and only if a full pass may follow).

Measured on ML-1M (WMF, 64 users; ``bench/approximate.py``): the erase pass alone already brings RBO with
Retrain above Retrain*'s; the full passes that ``tol`` asks for mostly keep converging an original that
ALS's 10 sweeps left unconverged, and cost a whole user + item pass each. ``max_passes=0`` is the fast setting.

Row solvers, vectorised over a batch of rows (their Hessians are independent blocks):

- **AH-Newton** (ad hoc, closed-form Hessian; squared losses: WMF/ENMF): one Newton step per row,
  ``x ← x − H⁻¹g`` with batched Cholesky solves of the small d × d systems (``H`` built from one batched
  ``AᵀA`` per block of rows). The row problem is quadratic, so this step is its exact minimiser (the
  least-squares / ALS row optimum). Cost per pass O(nnz·d²): it forms the systems ALS's CG never forms.
- **HF-Newton** (Hessian-free, Martens 2010; any loss: BPR, WMF): Hessian-vector products by reverse-over-
  reverse ``torch.func`` (``vjp`` of ``grad``, its graph built once per Newton step and reused by every CG
  iteration; the rows' Hessians are independent blocks, so one product serves a whole batch of rows, as a
  ``vmap`` over rows would), conjugate gradient on ``(H + λI) d = −g``, Armijo
  backtracking line search, and Levenberg–Marquardt adjustment of each row's damping λ by the ratio of
  actual to predicted decrease.

Rows with no remaining entry (a whole subject erased, an item only they had) are set to zero: the
optimum of their row problem, and what a retrain knows of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from unlearn.methods._approximate import ApproximateMethod
from unlearn.methods._objectives import SIDES, FactorObjective, RowBlock, Side, objective_for
from unlearn.methods._protocol import MethodSettings
from unlearn.models import FactorModel
from unlearn.models import one_intra_op_thread
from unlearn.progress import ProgressCallback, no_progress
from unlearn.training_data import Interactions


class AltEraserOptions(BaseModel):
    """AltEraser's settings (``lethe train --method alteraser -o solver=hf -o max_passes=2``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    solver: Literal["ah", "hf"] = Field("ah", description="ah: closed-form Hessian (wmf); hf: Hessian-free (any)")
    max_passes: int = Field(3, ge=0, description="passes over all remaining rows after the erase pass, at most")
    tol: float = Field(1e-3, ge=0, description="stop when a pass lowers the objective by less than this share")
    damping: float = Field(1e-3, gt=0, description="HF: initial Levenberg–Marquardt damping λ")
    cg_iterations: int = Field(20, ge=1, description="HF: conjugate-gradient iterations per Newton step")
    cg_tol: float = Field(1e-6, gt=0, description="HF: CG stops at ‖r‖ ≤ cg_tol · ‖g‖")
    newton_iterations: int = Field(3, ge=1, description="HF: Newton steps per row per pass")
    grad_tol: float = Field(1e-7, ge=0, description="HF: rows with ‖g‖ at most this are left as they are")
    negatives: int = Field(2, ge=1, description="bpr: negatives sampled per remaining positive (seeded)")


def batched_cg(
    apply: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int, tol: float
) -> torch.Tensor:
    """Solve ``A x = b`` row by row (``apply`` multiplies every row by its own A) by conjugate gradient; a row
    stops when its residual is small or its curvature is not positive."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rs = (r * r).sum(1)
    limit = tol * b.norm(dim=1)
    done = rs.sqrt() <= limit
    for _ in range(iterations):
        ap = apply(p)
        curvature = (p * ap).sum(1)
        done = done | (curvature <= 0)
        alpha = torch.where(done, torch.zeros_like(rs), rs / curvature.clamp_min(1e-300))
        x = x + alpha[:, None] * p
        r = r - alpha[:, None] * ap
        new_rs = (r * r).sum(1)
        done = done | (new_rs.sqrt() <= limit)
        if bool(done.all()):
            break
        p = r + (new_rs / rs.clamp_min(1e-300))[:, None] * p
        rs = new_rs
    return x


def hf_newton(
    losses: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, options: AltEraserOptions,
    armijo: float = 1e-4, backtracks: int = 12,
) -> torch.Tensor:
    """Minimise independent row losses (``losses(x)[r]`` depends on ``x[r]`` only) by Hessian-free Newton."""
    gradient = torch.func.grad(lambda z: losses(z).sum())
    damping = torch.full((len(x),), options.damping, dtype=x.dtype)
    for _ in range(options.newton_iterations):
        # the gradient and its vjp at x: the vjp of a gradient is a Hessian-vector product (H is symmetric), and
        # the graph saved here serves every CG iteration (a jvp of the gradient would redo its forward each time)
        g, pullback = torch.func.vjp(gradient, x)
        active = g.norm(dim=1) > options.grad_tol
        if not bool(active.any()):
            break

        def hvp(v: torch.Tensor, pullback: Callable[..., tuple[torch.Tensor]] = pullback) -> torch.Tensor:
            return pullback(v)[0]

        step = batched_cg(lambda v: hvp(v) + damping[:, None] * v, -g, options.cg_iterations, options.cg_tol)
        step[~active] = 0.0
        slope = (g * step).sum(1)
        predicted = slope + 0.5 * (step * hvp(step)).sum(1)
        before = losses(x)
        t = torch.ones_like(before)
        accepted = ~active | (slope >= 0)  # nothing to do, or not a descent direction: leave the row
        moved = torch.zeros_like(accepted)
        after = before.clone()
        for _ in range(backtracks):
            trial = losses(x + t[:, None] * step)
            ok = ~accepted & (trial <= before + armijo * t * slope)
            after, moved, accepted = torch.where(ok, trial, after), moved | ok, accepted | ok
            if bool(accepted.all()):
                break
            t = torch.where(accepted, t, t / 2)
        x = x + torch.where(moved, t, torch.zeros_like(t))[:, None] * step
        ratio = (after - before) / predicted.clamp(max=-1e-300)
        damping = torch.where(ratio > 0.75, damping * (2 / 3), torch.where(ratio < 0.25, damping * 1.5, damping))
    return x


class AltEraser(ApproximateMethod):
    """Warm start + alternating rows + 2nd-order row solver (AH- or HF-Newton)."""

    options_class: ClassVar[type[BaseModel]] = AltEraserOptions
    base_models: ClassVar[tuple[str, ...]] = ("wmf", "bpr")

    def _check_settings(self, settings: MethodSettings) -> None:
        super()._check_settings(settings)
        if self.options(settings).solver == "ah" and settings.base_model != "wmf":  # type: ignore[attr-defined]
            raise ValueError(f"AH-Newton needs a closed-form Hessian (squared loss: wmf); base model "
                             f"{settings.base_model!r} needs solver 'hf'")

    def unlearn(
        self, model: FactorModel, remaining: Interactions, forgotten: Interactions, settings: MethodSettings,
        seed: int, progress: ProgressCallback = no_progress,
    ) -> tuple[FactorModel, dict[str, Any]]:
        """Algorithm 1 from the serving model's factors on the base model's loss over the remaining data."""
        options = AltEraserOptions(**settings.options)
        config = settings.model_config_object()
        return alteraser(objective_for(settings.base_model, config, remaining, model, options.negatives, seed),
                         forgotten, options, progress)


def alteraser(
    objective: FactorObjective, forgotten: Interactions, options: AltEraserOptions,
    progress: ProgressCallback = no_progress,
) -> tuple[FactorModel, dict[str, Any]]:
    """Algorithm 1 on ``objective`` (already at the original model's factors); returns the model and facts.

    The objective is evaluated once, at the start, and only when a full pass may follow (``max_passes`` > 0):
    each pass's decrease is summed from its row updates (rows of one side are independent blocks of the
    objective, so their decreases add up exactly), which the stopping rule compares with ``tol`` × the value.
    The facts then carry the objective after each pass (``objective``) as well as the decreases.
    """
    if options.solver == "ah" and not objective.closed_form:
        raise ValueError(f"{type(objective).__name__} has no closed-form Hessian: use solver 'hf'")
    started = time.perf_counter()
    erase_rows = {"user": np.unique(forgotten.user_idx), "item": np.unique(forgotten.item_idx)}
    stage = "alteraser passes"
    progress(stage, 0, options.max_passes + 1)
    with one_intra_op_thread():  # many mid-sized ops: see one_intra_op_thread (barrier stalls on a shared CPU)
        value = start = objective.value() if options.max_passes else None
        erase = {side: objective.blocks(side, erase_rows[side]) for side in SIDES}
        rows_solved, decrease = _one_pass(objective, erase, options)
        decreases, pass_seconds = [decrease], [time.perf_counter() - started]
        full = {side: objective.blocks(side) for side in SIDES} if options.max_passes else {}
        while value is not None and len(decreases) <= options.max_passes and decreases[-1] >= options.tol * abs(value):
            progress(stage, len(decreases), options.max_passes + 1)
            value -= decreases[-1]
            began = time.perf_counter()
            rows, decrease = _one_pass(objective, full, options)
            rows_solved, decreases, pass_seconds = rows_solved + rows, [*decreases, decrease], [*pass_seconds,
                                                                                               time.perf_counter() - began]
    progress(stage, options.max_passes + 1, options.max_passes + 1)
    facts = {"solver": options.solver, "full_passes": len(decreases) - 1, "rows_solved": rows_solved,
             "erase_rows": {side: int(len(rows)) for side, rows in erase_rows.items()},
             "decrease": [round(v, 6) for v in decreases], "pass_seconds": [round(v, 3) for v in pass_seconds],
             "seconds": round(time.perf_counter() - started, 3)}
    if start is not None:  # the objective after each pass: the start value minus the decreases so far
        facts["objective"] = [round(v, 6) for v in start - np.concatenate([[0.0], np.cumsum(decreases)])]
    return objective.to_model(), facts


def _one_pass(
    objective: FactorObjective, blocks: dict[Side, list[RowBlock]], options: AltEraserOptions
) -> tuple[int, float]:
    """OneErasePass: the given user rows with items fixed, then the given item rows with users fixed; returns
    the rows solved and the objective's decrease."""
    solved, decrease = 0, 0.0
    for side in SIDES:
        matrix, other = objective.factors[side], objective.other(side)
        has_entries = torch.from_numpy(objective.has_entries(side))
        for block in blocks[side]:
            x = matrix[block.rows]
            if options.solver == "ah":  # a quadratic: the Newton step's decrease is ½ gᵀH⁻¹g
                hessian, gradient = objective.newton_system(side, x, block, other)
                step = newton_step(hessian, gradient)
                x, decrease = x - step, decrease + 0.5 * float((gradient * step).sum())
                x[~has_entries[block.rows]] = 0.0  # already 0 up to rounding: their optimum
            else:
                losses = objective.row_loss(side, block, other)
                before = losses(x)
                x = hf_newton(losses, x, options)
                x[~has_entries[block.rows]] = 0.0
                decrease += float((before - losses(x)).sum())
            matrix[block.rows] = x
            solved += len(block.rows)
    return solved, decrease


def newton_step(hessian: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """``H⁻¹g`` for a batch of rows: batched Cholesky (the Hessians of squared losses with a ridge are positive
    definite), LU for a block where one is not (no ridge and a rank-deficient Gram matrix)."""
    factor, info = torch.linalg.cholesky_ex(hessian)
    if bool((info == 0).all()):
        return torch.cholesky_solve(gradient.unsqueeze(-1), factor).squeeze(-1)
    return torch.linalg.solve(hessian, gradient.unsqueeze(-1)).squeeze(-1)
