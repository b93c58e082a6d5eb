"""Scheduled verification audits: is every erasure still true of the models serving today?

A request is verified once, when it is fulfilled; an audit asks again later, for the whole workspace. In order:

1. **ledger integrity**: the hash chain, every bulk digest, every signed checkpoint's signature and root, and the
   consistency between consecutive checkpoints; the exported checkpoint notes against the stored heads; every live
   checkpoint's model file re-hashed against its recorded sha256 (:meth:`ledger.Ledger.verify`);
2. **re-contamination**: every live checkpoint of every deployment — including deployments trained after the
   erasures, e.g. a scheduled full retrain that re-ingested an old export — re-derives its training set from the
   ledger (its recorded digest must match) and may hold no interaction id of any erased request (an approximate
   method's checkpoint only those of the requests it forgot itself); nor may the store hold such an id again;
3. **window verification**: the erasures of the window (completed within ``window_days``, plus any still waiting
   for verification) against the current serving model, with *one shared* reference retrain per deployment:
   requests waiting at ``data_erased`` (the policy defers verification to the audit, or a verification crashed)
   are verified and certified now; requests verified earlier have their signed report re-checked (signature,
   digest recorded in the ledger, verdict). Their forgotten pairs were shredded before their certificate was
   issued, by design, so they cannot be measured again: check 2 is what re-tests them against today's models.
   Skipped (and failed) when check 1 fails: nothing is verified or certified on a ledger that does not verify.
   A request another process is running (it holds the request's lock) is judged by its state at that moment: in
   progress, neither verified nor failed;
4. **deadlines**: every open request against its due date (GDPR Art. 12(3), with extensions): late ones fail
   the audit, nearly late ones are flagged. A failed request is open (not answered: it awaits a retry), and is
   listed with why it failed and the retry command even while on time.

The result is an :class:`AuditReport`, signed in the same DSSE-style envelope as verification reports and
saved under ``audits/``, then an ``audit.completed`` ledger event and (when the ledger verified) a signed
checkpoint covering it. Signed documents older than the policy's retention are listed as due for deletion.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ledger import REQUEST_STATISTICALLY_VERIFIED, CheckpointRecord, Ledger, LetheError, RequestRecord
from policies import DeadlineState, Policy, record_policy
from unlearn.engine import ErasureEngine
from unlearn.lifecycle import failure_note, statistics_pending
from unlearn.methods import MethodSettings, get_method
from unlearn.progress import ProgressCallback, no_progress
from unlearn.requests import ANSWERED_STATES
from unlearn.training_data import Interactions, training_set_digest
from verify._reference import ReferenceModels
from verify._report import (
    FROZEN,
    REPORT_PAYLOAD_TYPE,
    STATEMENT_TYPE,
    ReferenceInfo,
    ResourceDescriptor,
    UtcDatetime,
    first_error,
    load_report,
    payload_digest,
    save_envelope,
    sign_payload,
    verify_envelope,
)
from verify._verifier import StatisticalVerifier

AUDIT_PREDICATE_TYPE = "https://lethe.dev/attestations/erasure-audit/v1"
AUDIT_COMPLETED = "audit.completed"
AUDITS_DIR = "audits"
CheckName = Literal["ledger integrity", "re-contamination", "window verification", "deadlines"]


class AuditCheck(BaseModel):
    """One of the audit's four checks: the verdict, a one-line account, and what it found (one line each)."""

    model_config = FROZEN
    name: CheckName
    passed: bool
    detail: str
    findings: list[str] = Field(default_factory=list)


class WindowRequest(BaseModel):
    """One erasure of the window and what the audit did with it."""

    model_config = FROZEN
    request_id: str
    erased_at: UtcDatetime
    action: Literal["verified now", "statistics verified now", "report re-checked", "not verifiable",
                    "in progress"] = Field(
        description="statistics verified now: the statistical follow-up of a certificate issued on the lineage proof; "
                    "in progress: another process was running the request when the audit looked (judged next time)")
    state: str = Field(description="the request's state after the audit")
    report_id: str | None
    passed: bool
    reference_reused: bool | None = Field(description="the report's statistics used the audit's shared reference")
    detail: str


class DeadlineStatus(BaseModel):
    """An open request against its due date on the day of the audit."""

    model_config = FROZEN
    request_id: str
    state: str
    received_at: UtcDatetime
    due: date
    extension_months: int
    days_left: int
    status: DeadlineState = Field(description="as policies.Deadlines.status judges it: on time, nearly late, late")


class AuditReport(BaseModel):
    """The signed outcome of one audit; ``passed`` is true only if all four checks ran and passed."""

    model_config = FROZEN
    schema_version: Literal[1] = 1
    audit_id: str
    created_at: UtcDatetime
    window_start: UtcDatetime
    window_days: int = Field(ge=1)
    policy_digest: str
    ledger_head: str = Field(description="head of the ledger the audit checked (before its own event)")
    events_checked: int
    checks: list[AuditCheck]
    requests: list[WindowRequest]
    references_trained: int = Field(ge=0, description="reference retrains the window's verification needed")
    reference: ReferenceInfo | None
    deadlines: list[DeadlineStatus]
    retention_due: list[str] = Field(description="signed documents older than the policy's retention (workspace paths)")
    seconds: float
    passed: bool

    @model_validator(mode="after")
    def _fail_closed(self) -> "AuditReport":
        names = {check.name for check in self.checks}
        expected = names == set(CheckName.__args__) and all(check.passed for check in self.checks)
        if self.passed != expected:
            raise ValueError(f"passed={self.passed} contradicts the checks (all four must run and pass)")
        return self

    @property
    def failed_checks(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]


class AuditStatement(BaseModel):
    """The in-toto-like statement an audit report travels in: subjects are the ledger head, the serving
    checkpoints and the shared reference retrains."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    type_: Literal[STATEMENT_TYPE] = Field(STATEMENT_TYPE, alias="_type")
    subject: list[ResourceDescriptor] = Field(min_length=1)
    predicate_type: Literal[AUDIT_PREDICATE_TYPE] = Field(AUDIT_PREDICATE_TYPE, alias="predicateType")
    predicate: AuditReport

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def audit_report_path(workspace_root: Path, audit_id: str) -> Path:
    return Path(workspace_root) / AUDITS_DIR / f"{audit_id}.json"


def load_audit_report(source: str | Path, public_key: Any) -> AuditStatement:
    """Verify a signed audit report and parse it; :class:`~ledger.errors.SignatureError` if either fails."""
    from ledger.errors import SignatureError

    payload = verify_envelope(source, public_key, REPORT_PAYLOAD_TYPE)
    try:
        return AuditStatement.model_validate(payload)
    except ValidationError as exc:
        raise SignatureError(f"the signed payload is not an audit report: {first_error(exc)}") from exc


def _descriptor(name: str, sha256: str) -> ResourceDescriptor:
    return ResourceDescriptor(name=name, digest={"sha256": sha256.removeprefix("sha256:")})


# -- 1. ledger integrity --------------------------------------------------------------------------------
def _check_ledger(ledger: Ledger) -> tuple[AuditCheck, int]:
    result = ledger.verify()
    heads = len(ledger.log.tree_heads())
    if result.ok:
        return AuditCheck(name="ledger integrity", passed=True,
                          detail=f"{result.events_checked} events chained, bulk digests match, {heads} signed "
                                 "checkpoint(s) verify and are consistent"), result.events_checked
    return AuditCheck(name="ledger integrity", passed=False,
                      detail=f"fails at seq {result.first_bad_seq}", findings=[result.reason or "unknown fault"]), \
        result.events_checked


# -- 2. re-contamination --------------------------------------------------------------------------------
def _leaks(ledger: Ledger, record: CheckpointRecord, erased: np.ndarray) -> str | None:
    """Why a live checkpoint is contaminated, or ``None``.

    Its training set is re-derived from the ledger and must match the recorded digest. An exact checkpoint may
    hold no erased id at all. An approximate one (warm start, AltEraser, CFF) honestly keeps the ids of the
    requests it forgot in its ancestry (``excludes_requests``); any *other* erased id means it (or a model it
    descends from) trained on erased data after the erasure.
    """
    method = get_method(record.method)
    ids = method.training_ids(ledger, record)
    if training_set_digest(ids) != record.training_set_digest:
        return f"{record.checkpoint_id}: training set does not match its recorded digest"
    forgotten = ledger.erased_interaction_ids(record.excludes_requests) if not method.exact else set()
    unaccounted = erased[~np.isin(erased, np.fromiter(forgotten, dtype=np.int64))] if forgotten else erased
    leaked = int(np.isin(ids, unaccounted).sum())
    return f"{record.checkpoint_id} trained on {leaked} erased interaction(s)" if leaked else None


def _check_recontamination(ledger: Ledger, requests: list[RequestRecord]) -> AuditCheck:
    unlearned = [r.request_id for r in requests if r.payload("unlearned") is not None]
    erased = np.fromiter(ledger.erased_interaction_ids(unlearned), dtype=np.int64)
    findings = []
    deployments = ledger.deployments()
    checkpoints = 0
    for deployment in deployments:
        live = ledger.live_checkpoints(deployment.deployment_id)
        checkpoints += len(live)
        role = "serving" if deployment.serving else "standby"
        findings += [f"{role} deployment {deployment.deployment_id}: {leak}" for _, record in sorted(live.items())
                     if (leak := _leaks(ledger, record, erased)) is not None]
    data_erased = [r.request_id for r in requests if r.payload("data_erased") is not None]
    gone = np.fromiter(ledger.erased_interaction_ids(data_erased), dtype=np.int64)
    if gone.size:
        back = int(np.isin(ledger.store.interactions()["interaction_id"].to_numpy(np.int64), gone).sum())
        if back:
            findings.append(f"the store holds {back} erased interaction(s) again (re-ingested)")
    detail = (f"{checkpoints} live checkpoint(s) of {len(deployments)} deployment(s) and the store, against "
              f"{erased.size} erased interaction id(s) of {len(unlearned)} request(s)")
    return AuditCheck(name="re-contamination", passed=not findings, detail=detail, findings=findings)


# -- 3. window verification ------------------------------------------------------------------------------
class _Window:
    """The window's erasures verified with shared references: trained once per target deployment."""

    def __init__(self, ledger: Ledger, policy: Policy, progress: ProgressCallback, actor: str) -> None:
        self.ledger, self.policy, self.progress, self.actor = ledger, policy, progress, actor
        self.verifier = StatisticalVerifier(policy, lineage_first=False)  # the window's references serve all
        self.trained: list[ReferenceModels] = []

    def share_references(self, pending: list[RequestRecord]) -> None:
        """Train one reference per deployment the pending requests are measured on, on today's remaining data."""
        targets = {t["deployment_id"] for r in pending
                   if (t := StatisticalVerifier._target(self.ledger, r.require_payload("planned"))) is not None}
        if not targets:
            return
        remaining = Interactions.from_store(self.ledger, "train")
        for deployment_id in sorted(targets):
            settings = MethodSettings(**self.ledger.deployment(deployment_id).settings)
            references, _ = self.verifier.references_for(deployment_id, settings, remaining, self.progress)
            self.verifier.references[references.key] = references
            self.trained.append(references)

    def verify_pending(self, record: RequestRecord, erased_at: datetime) -> WindowRequest:
        """Verify (and certify) a request waiting at ``data_erased``, or run the statistical follow-up of one
        certified on its lineage proof."""
        engine = ErasureEngine(self.ledger, self.policy, self.verifier, defer_verification=False,
                               inconclusive_waits=False)  # the window's verdict is final
        follow_up = statistics_pending(record)
        try:
            if follow_up:
                record = engine.verify_statistically(record.request_id, self.progress, self.actor)
            else:
                record = engine.run(record.request_id, self.progress, self.actor)
        except LetheError as exc:
            if self.ledger.workspace.held(record.request_id):  # another process took it up since the audit looked
                return self.in_progress(record, erased_at)
            return WindowRequest(request_id=record.request_id, erased_at=erased_at, action="not verifiable",
                                 state=record.state, report_id=None, passed=False, reference_reused=None,
                                 detail=str(exc))
        return self._from_report(record, erased_at, "statistics verified now" if follow_up else "verified now")

    def in_progress(self, record: RequestRecord, erased_at: datetime) -> WindowRequest:
        """A request another process is running is judged by its state now: under way, not failed."""
        return WindowRequest(request_id=record.request_id, erased_at=erased_at, action="in progress",
                             state=record.state, report_id=None, passed=True, reference_reused=None,
                             detail=f"being run by another process ({record.state} when the audit looked); "
                                    "the next audit re-checks it")

    def recheck(self, record: RequestRecord, erased_at: datetime) -> WindowRequest:
        return self._from_report(record, erased_at, "report re-checked")

    def _from_report(self, record: RequestRecord, erased_at: datetime,
                     action: Literal["verified now", "statistics verified now", "report re-checked"]) -> WindowRequest:
        """Judge the request by its latest signed report: the statistical follow-up if it has one."""
        verified = record.payload(REQUEST_STATISTICALLY_VERIFIED.removeprefix("request.")) or \
            record.require_payload("verified")
        workspace = self.ledger.workspace
        try:
            statement = load_report(workspace.root / verified["report_path"], workspace.signer.public_key)
        except LetheError as exc:
            return WindowRequest(request_id=record.request_id, erased_at=erased_at, action=action, state=record.state,
                                 report_id=verified["report_id"], passed=False, reference_reused=None,
                                 detail=f"signed report does not verify: {exc}")
        report = statement.predicate
        problems = []
        if payload_digest(statement.payload()) != verified["report_sha256"]:
            problems.append("the report differs from the one the ledger recorded")
        if not report.passed:
            failed = [c.name for c in report.checks if c.verdict == "fail"]
            problems.append("failed checks: " + ", ".join(failed) if failed else
                            "inconclusive: no check separated forgetting from a no-op, and the method is not exact")
            if report.follows is not None:
                problems.append(f"certified on the lineage proof (report {report.follows.report_id}), but its "
                                "statistical follow-up did not pass: investigate; the next audit tries it again")
            if record.state == "failed":
                problems.append(f"retry with `lethe request retry {record.request_id}`")
        reused = report.reference.reused if report.reference else None
        inconclusive = sum(c.verdict == "inconclusive" for c in report.checks)
        detail = "; ".join(problems) or (f"{len(report.checks) - inconclusive} checks passed, {inconclusive} "
                                         f"inconclusive ({report.method} on {report.deployment_id})")
        return WindowRequest(request_id=record.request_id, erased_at=erased_at, action=action, state=record.state,
                             report_id=report.report_id, passed=not problems, reference_reused=reused, detail=detail)


def _erased_at(record: RequestRecord) -> datetime | None:
    event = next((e for e in record.history if e.kind == "request.data_erased"), None)
    return datetime.fromisoformat(event.ts) if event else None


def _check_window(window: _Window, requests: list[RequestRecord], window_start: datetime,
                  ledger_ok: bool) -> tuple[AuditCheck, list[WindowRequest]]:
    members = [(r, at) for r in requests if (at := _erased_at(r)) is not None
               and (r.state == "data_erased" or statistics_pending(r) or at >= window_start)]
    if not ledger_ok:
        return AuditCheck(name="window verification", passed=False,
                          detail=f"skipped: the ledger does not verify, so none of the window's {len(members)} "
                                 "erasure(s) is verified or certified on it"), []
    busy = {r.request_id for r, _ in members if r.state not in ANSWERED_STATES and window.ledger.workspace.held(r.request_id)}
    pending = [r for r, _ in members
               if (r.state == "data_erased" or statistics_pending(r)) and r.request_id not in busy]
    window.share_references(pending)
    rows = []
    for record, at in members:  # filing order: each verification still finds the checkpoints it replaced
        if record.request_id in busy:
            rows.append(window.in_progress(record, at))
        elif record.state == "data_erased" or statistics_pending(record):
            rows.append(window.verify_pending(record, at))
        elif record.payload("verified") is not None:
            rows.append(window.recheck(record, at))
        else:
            rows.append(WindowRequest(request_id=record.request_id, erased_at=at, action="not verifiable",
                                      state=record.state, report_id=None, passed=False, reference_reused=None,
                                      detail=f"erased but {record.state} without a verification report"))
    failed = [f"{row.request_id}: {row.detail}" for row in rows if not row.passed]
    verified_now = sum(row.action in ("verified now", "statistics verified now") for row in rows)
    detail = (f"{len(rows)} erasure(s) in the window: {verified_now} verified now with "
              f"{len(window.trained)} shared reference retrain(s), {len(rows) - verified_now} earlier report(s) "
              "re-checked" if rows else "no erasure in the window")
    return AuditCheck(name="window verification", passed=not failed, detail=detail, findings=failed), rows


# -- 4. deadlines ---------------------------------------------------------------------------------------
def _check_deadlines(policy: Policy, requests: list[RequestRecord], today: date) -> tuple[AuditCheck, list[DeadlineStatus]]:
    rows = []
    notes = {}
    for record in requests:
        if record.state in ANSWERED_STATES:
            continue
        notes[record.request_id] = failure_note(record)
        standing = policy.deadlines.status(record, today)
        rows.append(DeadlineStatus(request_id=record.request_id, state=record.state,
                                   received_at=datetime.fromisoformat(record.received_at), due=standing.due,
                                   extension_months=record.extension_months, days_left=standing.days_left,
                                   status=standing.state))
    flagged = [f"{row.request_id} ({row.state}) is {row.status.value}: due {row.due.isoformat()}"
               f" ({abs(row.days_left)} day(s) {'ago' if row.days_left < 0 else 'left'})"
               + (f"; {note}" if (note := notes[row.request_id]) else "")
               for row in rows if row.status != DeadlineState.ON_TIME or notes[row.request_id]]
    late = sum(row.status == DeadlineState.LATE for row in rows)
    nearly = sum(row.status == DeadlineState.NEARLY_LATE for row in rows)
    failed = sum(row.state == "failed" for row in rows)
    detail = (f"{len(rows)} open request(s): {late} late, {nearly} nearly late "
              f"(within {policy.deadlines.nearly_late_days} days)"
              + (f"; {failed} failed, awaiting a retry" if failed else ""))
    return AuditCheck(name="deadlines", passed=late == 0, detail=detail, findings=flagged), rows


def _retention_due(ledger: Ledger, policy: Policy, now: datetime) -> list[str]:
    """Signed documents older (by file time) than the policy keeps them: listed, never deleted by the audit."""
    root = ledger.workspace.root
    due = []
    for folder, days in (("reports", policy.retention.reports_days), ("certificates", policy.retention.certificates_days),
                         (AUDITS_DIR, policy.retention.audit_reports_days)):
        cutoff = (now - timedelta(days=days)).timestamp()
        due += sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*")
                      if p.is_file() and p.stat().st_mtime < cutoff)
    return due


# -- the audit ------------------------------------------------------------------------------------------
def run_audit(
    ledger: Ledger,
    policy: Policy,
    window_days: int | None = None,
    now: datetime | None = None,
    role: str = "auditor",
    actor: str = "audit",
    progress: ProgressCallback = no_progress,
) -> AuditReport:
    """Run the four checks, sign and save the report, record ``audit.completed``; one audit at a time.

    ``now`` is the audit's clock (the window's end and the day deadlines are judged on; tests move it).
    """
    policy.require_role("run_audit", role)
    days = window_days or policy.audit.window_days
    now = now or datetime.now(timezone.utc)
    window_start = now - timedelta(days=days)
    started = time.perf_counter()
    with ledger.workspace.exclusive("audit"):
        head = ledger.head_hash()
        ledger_check, events_checked = _check_ledger(ledger)
        progress("audit", 1, 4)
        contamination = _check_recontamination(ledger, ledger.requests())
        progress("audit", 2, 4)
        if ledger_check.passed:
            record_policy(ledger, policy, actor)  # before the window's request events are written under it
        window = _Window(ledger, policy, progress, actor)
        window_check, rows = _check_window(window, ledger.requests(), window_start, ledger_check.passed)
        progress("audit", 3, 4)
        deadline_check, deadlines = _check_deadlines(policy, ledger.requests(), now.date())
        progress("audit", 4, 4)
        checks = [ledger_check, contamination, window_check, deadline_check]
        shared = window.trained[0] if window.trained else None
        verified_now = sum(row.action in ("verified now", "statistics verified now") for row in rows)
        report = AuditReport(
            audit_id=f"audit-{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}",
            created_at=now,
            window_start=window_start,
            window_days=days,
            policy_digest=policy.digest,
            ledger_head=head,
            events_checked=events_checked,
            checks=checks,
            requests=rows,
            references_trained=len(window.trained),
            reference=None if shared is None else ReferenceInfo(
                base_model=shared.base_model, data_digest=shared.data_digest, seed=shared.seed,
                retrain_star_seed=shared.retrain_star_seed, reused=verified_now > 1),
            deadlines=deadlines,
            retention_due=_retention_due(ledger, policy, now),
            seconds=round(time.perf_counter() - started, 3),
            passed=all(check.passed for check in checks),
        )
        path, digest = _sign_and_save(ledger, report, window.trained)
        ledger.append(AUDIT_COMPLETED, {
            "audit_id": report.audit_id,
            "report_path": str(path.relative_to(ledger.workspace.root)),
            "report_sha256": digest,
            "passed": report.passed,
            "failed_checks": report.failed_checks,
            "window_start": report.window_start.isoformat(),
            "window_days": days,
            "requests": len(rows),
            "references_trained": report.references_trained,
            "approved_by_role": role,
            "policy_digest": policy.digest,
        }, actor=actor)
        if ledger_check.passed:
            ledger.checkpoint()  # never sign a tree head over a log that failed its own check
    return report


def _sign_and_save(ledger: Ledger, report: AuditReport, references: list[ReferenceModels]) -> tuple[Path, str]:
    """Write the signed statement to ``audits/<id>.json``; returns its path and the payload's digest."""
    subjects = [_descriptor("ledger-head", report.ledger_head)]
    serving = ledger.serving_deployment_id()
    if serving is not None:
        subjects += [_descriptor(f"serving/{c.checkpoint_id}", c.artifact_sha256)
                     for _, c in sorted(ledger.live_checkpoints(serving).items())]
    for shared in references:
        subjects += [_descriptor(f"{shared.deployment_id}/{name}", sha)
                     for name, sha in shared.save(ledger.workspace.artifacts_dir).items()]
    statement = AuditStatement(subject=subjects, predicate=report)
    envelope = sign_payload(statement.payload(), REPORT_PAYLOAD_TYPE, ledger.workspace.signer)
    path = save_envelope(envelope, audit_report_path(ledger.workspace.root, report.audit_id))
    return path, payload_digest(statement.payload())
