"""Policies: which method serves which request, verification thresholds, deadlines — validated at load.

A bad file fails loudly with the offending field (pydantic, ``extra="forbid"``: a misspelt key is an error,
never silently ignored). The policy's digest is recorded with every request and report.
"""

from __future__ import annotations

from pathlib import Path
import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from ledger import LetheError, canonical_json, sha256_hex

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.yaml")


class PolicyError(LetheError):
    """A policy file is missing, not YAML, or fails validation (the message names the field)."""

    exit_code = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VerificationThresholds(_Strict):
    """Pass/fail rules of the statistical verification (``verify._evidence.judge`` applies them).

    Every rule is a margin over what honest retrains do: the reference retrain and Retrain*, a second retrain
    with another seed whose disagreement with the reference is the seed-noise floor (AltEraser §5.2.1).
    """

    rbo_depths: list[PositiveInt] = Field([10, 20, 50], min_length=1, description="k of the RBO@k checks")
    rbo_persistence: float = Field(0.9, gt=0, lt=1, description="p of extrapolated RBO (Webber Eq. 32)")
    rbo_margin: float = Field(
        0.05, ge=0,
        description="RBO@k(unlearned, reference) may trail Retrain*'s by at most this (forgetting users; widened "
                    "for few users), and the lower of the original's and Retrain*'s by at most this (other users)",
    )
    max_repredict_excess: float = Field(
        0.02, ge=0, description="re-predict(unlearned) may exceed the higher of the two retrains' by at most this"
    )
    mia_auc_margin: float = Field(
        0.05, ge=0, description="an attack's AUC may leave the band [0.5, reference's AUC] by at most this"
    )
    small_sample_z: float = Field(
        2.0, ge=0,
        description="standard errors a margin widens to on few forgetting users (RBO: spread of per-user RBO between "
                    "the retrains; AUC: the distribution-free bound 0.5/sqrt(min(n+, n-)))",
    )
    max_latent_excess: float = Field(
        0.25, ge=0,
        description="Procrustes distance to the reference may exceed Retrain*'s (forgetting users) or the farther "
                    "of the original's and Retrain*'s (affected items) by at most this (unit: RMS embedding norm)",
    )
    max_cka_drop: float = Field(
        0.1, ge=0, description="linear CKA of affected items may trail the lower of the original's and Retrain*'s by this"
    )
    max_recall_drop: float = Field(
        0.05, ge=0,
        description="Recall@20 of other users may trail the lower of the original's and the reference's by at most this",
    )
    sample_other_users: int = Field(500, ge=1, description="non-forgetting users sampled for RBO and utility checks")


class Deadlines(_Strict):
    """GDPR Art. 12(3): one month from receipt, extendable by two further months with a reason."""

    response_months: int = Field(1, ge=1)
    max_extension_months: int = Field(2, ge=0)


class Policy(_Strict):
    """One policy file."""

    name: str
    version: int = Field(1, ge=1)
    verification: VerificationThresholds = Field(default_factory=VerificationThresholds)
    deadlines: Deadlines = Field(default_factory=Deadlines)

    @property
    def digest(self) -> str:
        return "sha256:" + sha256_hex(canonical_json(self.model_dump(mode="json")))


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (the shipped default when ``path`` is None)."""
    path = Path(path) if path else DEFAULT_POLICY_PATH
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path} must hold a mapping of policy fields")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PolicyError(f"{path}: field '{field}': {first['msg']}") from None
