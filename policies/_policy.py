"""Policies: which method serves which request, verification thresholds, deadlines, audits, retention, roles.

A bad file fails loudly with the offending field and the reason (pydantic, ``extra="forbid"``: a misspelt key is
an error, never silently ignored). The policy's digest is recorded with every request event and report, and the
full document goes to the ledger as a ``policy.activated`` event whenever the policy in force changes
(:func:`policies.record_policy`).
"""

from __future__ import annotations

import calendar
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledger import LetheError, RequestKind, RequestRecord, canonical_json, sha256_hex

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.yaml")

Role = Literal["officer", "auditor"]
MAX_DAYS = 36_500
"""A century: the longest audit window or retention a policy may set (a date that far back still exists)."""
Action = Literal["extend_deadline", "activate_policy", "run_audit", "run_request"]


def gdpr_deadline(received: date, months: int = 1) -> date:
    """Last day to answer a request received on ``received``: ``months`` months, one per GDPR Art. 12(3).

    Computed as Regulation (EEC, Euratom) No 1182/71 prescribes: the day of receipt does not count, the
    period starts the day after (Art. 3(1)) and ends on the day of the month ``months`` later with the same
    date as the receipt, or on that month's last day when that date does not exist (Art. 3(2)(c)). So 15 March
    ends on 15 April and 31 January on 28 (or 29) February. The extension to the next working day when the end
    falls on a weekend or public holiday (Art. 3(4)) is not applied: holidays differ per member state, and
    the date shown is then never later than the legal one.
    """
    year, month = divmod(received.year * 12 + received.month - 1 + months, 12)
    month += 1
    return date(year, month, min(received.day, calendar.monthrange(year, month)[1]))


class PolicyError(LetheError):
    """A policy file is missing, not YAML, or fails validation (the message names the field)."""

    exit_code = 2


class _Strict(BaseModel):
    """Unknown keys are errors, and so are .inf and .nan: no threshold means "anything passes"."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Routing(_Strict):
    """The unlearning method that forgets each kind of request; ``None``: the method the deployment was trained
    with. A deployment's checkpoints can only be replaced by the method that made them, so a named method is a
    requirement the engine checks before filing: a request it cannot honour is refused, never silently re-routed."""

    subject: str | None = Field(None, description="a whole data subject (GDPR Art. 17)")
    interactions: str | None = Field(None, description="listed interactions of a subject")
    time_window: str | None = Field(None, description="a subject's interactions in a time window")
    batch: str | None = Field(None, description="several subjects erased together")

    def method_for(self, kind: RequestKind) -> str | None:
        return getattr(self, RequestKind(kind).value)

    def require_registered(self, methods: Collection[str]) -> None:
        """Raise :class:`PolicyError` if a kind is routed to a method not in ``methods`` (the registry's names).

        Policies sit below the methods (``policies`` cannot import ``unlearn``), so whoever joins a policy to the
        registry calls this: a misspelt method is refused when the policy is loaded, not when a request meets it.
        """
        for kind in RequestKind:
            method = self.method_for(kind)
            if method is not None and method not in methods:
                raise PolicyError(f"routing.{kind.value}: {method!r} is not a registered unlearning method "
                                  f"(known: {', '.join(sorted(methods))})")


if set(Routing.model_fields) != {kind.value for kind in RequestKind}:  # one field per kind, no more, no fewer
    raise TypeError(f"policies.Routing must have one field per ledger.RequestKind: {sorted(Routing.model_fields)}")


class VerificationThresholds(_Strict):
    """Pass/fail rules of the statistical verification (``verify._evidence.judge`` applies them).

    Every rule is a margin over what honest retrains do: the reference retrain and Retrain*, a second retrain
    with another seed whose disagreement with the reference is the seed-noise floor (AltEraser §5.2.1).

    Decision rule. Each check is judged with two controls by its own threshold: a negative one that must fail it
    (forgetting checks: the original model, a no-op; collateral checks: a retrain on ``damaged_fraction`` of the
    data; over-unlearning: the metric's failing extreme) and a positive one that must pass it (Retrain*). A check
    whose controls do not separate, or whose sample is too small for any value to fail it, is *inconclusive*
    (the report says why), never pass. With ``certify_exact_on: lineage`` an exact method certifies at once on its
    lineage proof and the model-replaced check, and the statistical checks follow at the audit (a second signed
    report). Otherwise an exact method certifies on its lineage proof when no check fails; an
    approximate one needs at least one forgetting check passed with separating controls and none failed. Evidence
    that is all inconclusive does not certify: the request waits for the audit, whose window verifies its subjects
    together with one shared reference (only that verdict may fail it); with ``audit.defer_verification`` every
    request waits for the window.
    """

    rbo_depths: list[Annotated[int, Field(ge=1, le=1000)]] = Field([10, 20, 50], min_length=1, max_length=10,
                                                                   description="k of the RBO@k checks")
    rbo_persistence: float = Field(0.9, gt=0, lt=1, description="p of extrapolated RBO (Webber Eq. 32)")
    rbo_margin: float = Field(
        0.05, ge=0, le=1,
        description="RBO@k(unlearned, reference) may trail Retrain*'s by at most this (forgetting users; widened "
                    "for few users), and the lower of the original's and Retrain*'s by at most this (other users)",
    )
    max_repredict_excess: float = Field(
        0.02, ge=0, le=1, description="re-predict(unlearned) may exceed the higher of the two retrains' by at most this"
    )
    mia_auc_margin: float = Field(
        0.05, ge=0, le=0.5, description="an attack's AUC may leave the band [0.5, reference's AUC] by at most this"
    )
    small_sample_z: float = Field(
        2.0, ge=0, le=10,
        description="standard errors a margin widens to on few forgetting users (RBO: spread of per-user RBO between "
                    "the retrains; AUC: the distribution-free bound 0.5/sqrt(min(n+, n-)))",
    )
    max_latent_excess: float = Field(
        0.25, ge=0, le=2,
        description="Procrustes distance to the reference may exceed Retrain*'s (forgetting users) or the farther "
                    "of the original's and Retrain*'s (affected items) by at most this (unit: RMS embedding norm)",
    )
    max_cka_drop: float = Field(
        0.1, ge=0, le=1,
        description="linear CKA of affected items may trail the lower of the original's and Retrain*'s by this"
    )
    max_recall_drop: float = Field(
        0.2, ge=0, le=1,
        description="Recall@20 of other users may trail the lower of the original's and the reference's by at most "
                    "this fraction of it (relative: recall's scale varies with the data, an absolute 0.05 let an 80 % "
                    "drop pass at recall 0.06)",
    )
    calibration_retrains: int = Field(
        2, ge=2, le=64,
        description="K of the per-user calibrated membership attack: the reference, Retrain* and K - 2 more seeded "
                    "retrains (each costs one retrain; an audit window shares them)",
    )
    damaged_fraction: float = Field(
        0.05, gt=0, lt=1,
        description="the collateral checks' negative control is a retrain on this seeded fraction of the remaining "
                    "data: a check it passes cannot detect damage and is inconclusive",
    )
    sample_other_users: int = Field(500, ge=1, le=1_000_000,
                                    description="non-forgetting users sampled for RBO and utility checks")
    certify_exact_on: Literal["lineage", "statistics"] = Field(
        "lineage",
        description="lineage: an exact method's request is certified at once on its lineage proof (no serving "
                    "checkpoint trained on the erased data) and a model-replaced check; the statistical verification "
                    "follows at the next audit, with the window's shared reference, as a second signed report. The "
                    "escrowed pairs and replaced checkpoints it measures are kept until then. statistics: the request "
                    "waits for its own references (minutes on large data) and is certified on both at once",
    )


class DeadlineState(StrEnum):
    """Where an open request stands against its due date (audits, the dashboard and listings all judge it so)."""

    ON_TIME = "on time"
    NEARLY_LATE = "nearly late"
    """Due within the policy's ``nearly_late_days``."""
    LATE = "late"
    """Past its due date."""


@dataclass(frozen=True)
class DeadlineStanding:
    """A request's due date and its standing on one day: ``days_left`` is negative when late by that many days."""

    due: date
    days_left: int
    state: DeadlineState


class Deadlines(_Strict):
    """GDPR Art. 12(3): one month from receipt (counted from the day after), extendable by up to two further
    months in total, with a recorded reason; ``nearly_late_days`` is when an audit starts warning."""

    response_months: int = Field(1, ge=1, le=1, description="the law's one month (a policy cannot give itself more)")
    max_extension_months: int = Field(2, ge=0, le=2, description="total over every extension of one request "
                                                                 "(at most the law's two further months)")
    nearly_late_days: int = Field(7, ge=0, description="an open request due within this many days is flagged")

    @model_validator(mode="after")
    def _warning_fits_the_period(self) -> "Deadlines":
        if self.nearly_late_days >= 28 * self.response_months:
            raise ValueError(f"nearly_late_days ({self.nearly_late_days}) must be shorter than the response period")
        return self

    def due_date(self, record: RequestRecord) -> date:
        """A request's due date: the response period from receipt plus every extension it was granted."""
        received = datetime.fromisoformat(record.received_at).date()
        return gdpr_deadline(received, self.response_months + record.extension_months)

    def status(self, record: RequestRecord, today: date) -> DeadlineStanding:
        """Where the request stands on ``today`` against :meth:`due_date`: late after it, nearly late within
        ``nearly_late_days`` of it, else on time. (Whether the deadline still runs — the request is not answered —
        is the caller's question.)"""
        due = self.due_date(record)
        days_left = (due - today).days
        state = (DeadlineState.LATE if days_left < 0 else
                 DeadlineState.NEARLY_LATE if days_left <= self.nearly_late_days else DeadlineState.ON_TIME)
        return DeadlineStanding(due, days_left, state)


class AuditSchedule(_Strict):
    """When the scheduled audit runs and what it covers."""

    cron: str = Field("0 3 * * mon", description="crontab line (minute hour day month weekday), evaluated in UTC")
    window_days: int = Field(7, ge=1, le=MAX_DAYS,
                             description="erasures completed within this many days are the audit's window")
    defer_verification: bool = Field(
        False,
        description="stop requests at data_erased and verify the window's erasures in the audit with one shared "
                    "reference retrain (cheaper; certificates then wait for the audit, mind the deadlines)",
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger  # imported here: loading a policy must stay light

        CronTrigger.from_crontab(value, timezone="UTC")  # raises ValueError naming the bad part
        return value

    def next_run(self, after: datetime) -> datetime:
        """When the scheduled audit next runs after ``after`` (UTC)."""
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone="UTC").get_next_fire_time(None, after)


class Retention(_Strict):
    """How long signed documents are kept before an audit lists them as due for deletion (days)."""

    reports_days: int = Field(2190, ge=1, le=MAX_DAYS, description="verification reports (reports/)")
    certificates_days: int = Field(2190, ge=1, le=MAX_DAYS, description="certificates, JSON and PDF (certificates/)")
    audit_reports_days: int = Field(2190, ge=1, le=MAX_DAYS, description="signed audit reports (audits/)")


class Approvers(_Strict):
    """Which roles may approve each controlled action (an empty list would lock the action: refused)."""

    extend_deadline: list[Role] = Field(["officer"], min_length=1)
    activate_policy: list[Role] = Field(["officer"], min_length=1)
    run_audit: list[Role] = Field(["officer", "auditor"], min_length=1)
    run_request: list[Role] = Field(
        [], description="roles one of whom, someone other than the filer, must approve a request of an intake "
                        "``workflow.identity_verification`` gates before it runs; empty: no second approval")


Intake = Literal["console", "api", "cli", "system"]
"""Where a request came in: a console user filed it, a DSR tool posted it (``lethe serve``), the CLI, or code."""


class Workflow(_Strict):
    """The request workflow before a run (issue 23): which intakes need the subject's identity verified in Lethe
    (and the run approved, when ``approvers.run_request`` names roles) before a request may run."""

    identity_verification: list[Intake] = Field(
        ["console"], description="intakes whose requests run only after identity verification is recorded")
    identity_methods: list[str] = Field(
        ["matched to the signed-in customer account", "government ID sighted (not kept)",
         "knowledge-based questions", "verified by the DSR tool upstream"], min_length=1,
        description="the ways of verifying identity an officer may record (method and who, never the document)")


class Policy(_Strict):
    """One policy file."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    version: int = Field(1, ge=1, le=1_000_000)
    routing: Routing = Field(default_factory=Routing)
    verification: VerificationThresholds = Field(default_factory=VerificationThresholds)
    deadlines: Deadlines = Field(default_factory=Deadlines)
    audit: AuditSchedule = Field(default_factory=AuditSchedule)
    retention: Retention = Field(default_factory=Retention)
    approvers: Approvers = Field(default_factory=Approvers)
    workflow: Workflow = Field(default_factory=Workflow)

    @property
    def digest(self) -> str:
        return "sha256:" + sha256_hex(canonical_json(self.document()))

    def document(self) -> dict:
        """The policy as canonical-JSON-ready data (what the digest covers and the ledger records)."""
        return self.model_dump(mode="json")

    def require_role(self, action: Action, role: str) -> None:
        """Raise :class:`PolicyError` unless the policy lets ``role`` approve ``action``."""
        allowed = getattr(self.approvers, action)
        if role not in allowed:
            raise PolicyError(f"role {role!r} may not approve {action.replace('_', ' ')}; "
                              f"policy {self.name!r} allows: {', '.join(allowed)}")


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (the shipped default when ``path`` is None)."""
    path = Path(path) if path else DEFAULT_POLICY_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyError(f"{path} is not valid YAML: {_one_line(str(exc) or type(exc).__name__)}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path} must hold a mapping of policy fields")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{path}: {validation_reason(exc)}") from None


def validation_reason(exc: ValidationError) -> str:
    """Pydantic's multi-line report cut to one line: the first offending field and why."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(policy)"
    return _one_line(f"field '{field}': {first['msg']}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
