"""Which unlearning methods apply to a framework's model, and why the others do not.

Each method rests on an assumption about the model: retraining needs a fit, sharding a fit per shard,
AltEraser's AH-Newton a closed-form optimum per row, a warm start a way to continue fitting, LASER's SeqTrain
a fit that keeps earlier groups when continued. The answer is read off the adapter's :class:`Capabilities`;
a method this module has no rule for is judged by the base models it declares (``base_models``).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from unlearn.adapters import FrameworkAdapter
from unlearn.registry import adapters, get_adapter, methods

#: Methods a registered (single, already trained) model can be recorded under: one shard, forgotten in place
#: or by retraining it. Sharded methods apply to new deployments trained with the adapter instead.
SINGLE_MODEL_METHODS = ("retrain", "alteraser", "warm_start", "incremental")


class MethodApplicability(BaseModel):
    """One method's verdict for one framework: whether it applies, and how (or why not)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    applies: bool
    exact: bool
    registered_model: bool  # can a registered model itself be forgotten by it (else: a new deployment)
    reason: str


Rule = Callable[[FrameworkAdapter], tuple[bool, str]]


def _fit(how: str) -> Rule:
    def rule(a: FrameworkAdapter) -> tuple[bool, str]:
        if a.capabilities.can_fit:
            return True, how.format(framework=a.framework, name=a.name)
        return False, f"Lethe cannot train {a.framework} from scratch"
    return rule


def _alteraser(a: FrameworkAdapter) -> tuple[bool, str]:
    if a.capabilities.closed_form_rows and a.capabilities.loss == "wmf":
        return True, ("AH-Newton: each affected row's closed-form least-squares optimum with the other side fixed "
                      "(ALS's own per-row solve of the same loss), then full sweeps while the objective improves")
    return False, (f"no closed-form per-row solve: {a.framework} does not minimise a squared loss Lethe can write "
                   "row by row (AltEraser's HF-Newton needs Lethe's own BPR-MF loss)")


def _warm_start(a: FrameworkAdapter) -> tuple[bool, str]:
    if a.capabilities.loss is not None:
        return True, f"AdamW fine-tuning on the {a.capabilities.loss.upper()} loss {a.framework} minimises"
    return False, (f"Lethe has no per-row form of {a.framework}'s loss to fine-tune with AdamW; "
                   + ("use 'incremental' (its own continued fit)" if a.capabilities.incremental else
                      "and it cannot continue fitting either"))


def _incremental(a: FrameworkAdapter) -> tuple[bool, str]:
    if a.capabilities.incremental:
        return True, (f"continues {a.framework}'s own fit from the serving model on the remaining data, then zeroes "
                      "rows left without data")
    return False, f"{a.framework} cannot continue fitting from a trained model (it refits from scratch)"


def _laser(a: FrameworkAdapter) -> tuple[bool, str]:
    if a.capabilities.sequential:
        return True, f"SeqTrain: continues {a.framework}'s fit group after group (new deployment)"
    if a.capabilities.incremental:
        return False, (f"continuing {a.framework}'s fit re-solves every row from the current group alone, so "
                       "sequential training would drop earlier groups' users")
    return False, f"{a.framework} cannot continue fitting, which SeqTrain needs"


RULES: dict[str, Rule] = {
    "retrain": _fit("retrains {framework} from scratch on the remaining data with its own fit"),
    "sisa": _fit("a new deployment trains one {framework} model per user shard (lethe train --method sisa "
                 "--model {name}); a registered single model forgets by retrain"),
    "receraser": _fit("a new deployment trains one {framework} model per balanced shard, in the shard's own item "
                      "space, and aggregates their factors by attention (lethe train --method receraser --model {name})"),
    "alteraser": _alteraser,
    "warm_start": _warm_start,
    "incremental": _incremental,
    "laser": _laser,
}


def applicable_methods(base_model_name: str) -> list[MethodApplicability]:
    """Every registered method's verdict for a framework adapter's models, in method-name order."""
    adapter = get_adapter(base_model_name)
    verdicts = []
    for name, method in sorted(methods().items()):
        if name in RULES:
            applies, reason = RULES[name](adapter)
        else:
            supported = method.base_models
            applies = supported is None or adapter.name in supported
            reason = ("declares every base model" if supported is None else "declares this base model" if applies
                      else f"supports base models {', '.join(supported) or 'of its own'} only")
        verdicts.append(MethodApplicability(method=name, applies=applies, exact=bool(method.exact),
                                            registered_model=name in SINGLE_MODEL_METHODS, reason=reason))
    return verdicts


def framework_methods(base_model_name: str) -> list[dict[str, object]]:
    """What a plan shows: the method table of a framework's model, or nothing for Lethe's own base models."""
    if base_model_name not in adapters():
        return []
    return [verdict.model_dump(mode="json") for verdict in applicable_methods(base_model_name)]


def require_applicable(base_model_name: str, method: str) -> MethodApplicability:
    """The verdict for one method, or a clear error saying why it does not apply."""
    verdict = next((v for v in applicable_methods(base_model_name) if v.method == method), None)
    if verdict is None:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(sorted(methods()))}")
    if not verdict.applies:
        raise ValueError(f"method {method!r} does not apply to {base_model_name}: {verdict.reason}")
    return verdict
