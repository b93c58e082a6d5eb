"""The request workflow before a run (issue 23): who owns a request, how the subject's identity was verified, the
second person's approval, and closing a request with a reason. Every step is one ledger event.

A privacy team does not erase on an unverified e-mail: for the intakes the policy names
(``workflow.identity_verification``, default the console) a request runs only after someone recorded *how* the
subject's identity was verified (``request.identity_verified``: the method and who, never the document itself), and,
when ``approvers.run_request`` names roles, after someone of such a role — not the person who filed it, nor the one
who verified the identity — approved running it (``request.approved``). The engine refuses to run a request whose
workflow is not complete (:func:`require_cleared`), and says what to record first, so the CLI, the API and the
worker obey the same gate as the console. Requests filed by code and the CLI carry no intake unless given, and the
default policy does not gate them (see ``policies/default.yaml`` for why).

Annotations do not move a request through its lifecycle (``ledger.REQUEST_ANNOTATIONS``); closing does: a request
refused (Art. 12(5), identity not established) or closed (a duplicate, withdrawn by the subject) ends in
``rejected`` with the reason and the outcome. Only a request nothing has run on yet can be closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ledger import (
    REQUEST_APPROVED,
    REQUEST_ASSIGNED,
    REQUEST_DUPLICATE_RECEIVED,
    REQUEST_IDENTITY_VERIFIED,
    Event,
    Ledger,
    RequestError,
    RequestRecord,
)
from policies import Policy, record_policy
from unlearn.requests import FINAL_STATES

CLOSABLE_STATES = ("received", "validated")
"""States a request can be refused or closed in: nothing of the subject's data or the models has changed yet
(planning already escrows the forgotten pairs)."""
Outcome = Literal["refused", "closed"]
"""``refused``: the controller declines the request (the subject is told why and of the right to complain);
``closed``: it needs no answer of its own (a duplicate of another request, withdrawn by the subject)."""


class WorkflowError(RequestError):
    """A workflow step was refused, or a request was run before its workflow was complete."""


@dataclass(frozen=True)
class Step:
    """One recorded workflow step: its event's payload, who recorded it and when."""

    payload: dict[str, Any]
    actor: str
    ts: str

    @classmethod
    def of(cls, event: Event) -> Step:
        return cls(event.payload, event.actor, event.ts)


@dataclass(frozen=True)
class WorkflowStatus:
    """Where a request stands in its workflow, and what is still missing before it may run."""

    request_id: str
    intake: str | None
    filed_by: str
    assignee: Step | None
    identity: Step | None
    approvals: list[Step] = field(default_factory=list)
    duplicates: list[Step] = field(default_factory=list)
    identity_required: bool = False
    approval_roles: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        return bool(self.approvals) or not self.approval_roles

    @property
    def blockers(self) -> list[str]:
        """What must be recorded before the request may run, in words (empty: it may run)."""
        missing = []
        if self.identity_required and self.identity is None:
            missing.append("record how the subject's identity was verified (console: Request page → Workflow → "
                           "Identity verification)")
        if self.identity_required and not self.approved:
            missing.append(f"a second person ({' or '.join(self.approval_roles)}, not who filed it or verified the "
                           "identity) must approve running it (console: Request page → Workflow → Approve)")
        return missing


def _steps(record: RequestRecord, kind: str) -> list[Step]:
    return [Step.of(e) for e in record.history if e.kind == kind]


def workflow_status(record: RequestRecord, policy: Policy) -> WorkflowStatus:
    """The request's workflow as the ledger records it, judged by ``policy`` as it stands now."""
    intake = record.received.get("intake")
    gated = intake in policy.workflow.identity_verification
    assignments, identities = _steps(record, REQUEST_ASSIGNED), _steps(record, REQUEST_IDENTITY_VERIFIED)
    return WorkflowStatus(
        request_id=record.request_id, intake=intake, filed_by=record.history[0].actor,
        assignee=assignments[-1] if assignments else None,
        identity=identities[-1] if identities else None,
        approvals=_steps(record, REQUEST_APPROVED),
        duplicates=_steps(record, REQUEST_DUPLICATE_RECEIVED),
        identity_required=gated,
        approval_roles=tuple(policy.approvers.run_request) if gated else (),
    )


def require_cleared(record: RequestRecord, policy: Policy) -> None:
    """Refuse (with what to record first) a request that has not started and whose workflow is incomplete."""
    if record.state != "received":
        return  # it already started: the gate was passed (or predates the policy) when it did
    missing = workflow_status(record, policy).blockers
    if missing:
        raise WorkflowError(f"request {record.request_id} cannot run yet: " + "; and ".join(missing))


def _open(ledger: Ledger, request_id: str) -> RequestRecord:
    record = ledger.request(request_id)
    if record is None:
        raise WorkflowError(f"unknown request id {request_id!r}")
    if record.state in FINAL_STATES and record.state != "failed":
        raise WorkflowError(f"request {request_id} is already {record.state}")
    return record


def _name(text: str, what: str) -> str:
    text = text.strip()
    if not text or any(ord(ch) < 32 for ch in text):
        raise WorkflowError(f"give {what} (no control characters)")
    return text


def assign(ledger: Ledger, policy: Policy, request_id: str, assignee: str, actor: str) -> None:
    """Make ``assignee`` the officer responsible for the request (``request.assigned``)."""
    _open(ledger, request_id)
    ledger.append(REQUEST_ASSIGNED, {"request_id": request_id, "assignee": _name(assignee, "the assignee's name"),
                                     "policy_digest": policy.digest}, actor=_name(actor, "who assigns it"))


def record_identity(ledger: Ledger, policy: Policy, request_id: str, method: str, actor: str,
                    note: str = "") -> None:
    """Record how the subject's identity was verified (``request.identity_verified``): the method (one of the
    policy's ``workflow.identity_methods``), who, and an optional note — never a copy of an identity document."""
    record = _open(ledger, request_id)
    if record.state != "received":
        raise WorkflowError(f"request {request_id} is already {record.state}: identity is verified before it runs")
    if method not in policy.workflow.identity_methods:
        raise WorkflowError(f"{method!r} is not a verification method of policy {policy.name!r}: choose one of "
                            + "; ".join(policy.workflow.identity_methods))
    if len(note) > 500:
        raise WorkflowError("keep the note under 500 characters: say what was checked, never copy the document")
    record_policy(ledger, policy, actor)
    ledger.append(REQUEST_IDENTITY_VERIFIED, {"request_id": request_id, "method": method, "note": note.strip(),
                                              "policy_digest": policy.digest}, actor=_name(actor, "who verified it"))


def approve(ledger: Ledger, policy: Policy, request_id: str, actor: str, role: str) -> None:
    """A second person approves running the request (``request.approved``): someone whose role the policy's
    ``approvers.run_request`` names, who neither filed the request nor verified the subject's identity, after the
    identity was verified."""
    record = _open(ledger, request_id)
    status = workflow_status(record, policy)
    if not policy.approvers.run_request:
        raise WorkflowError(f"policy {policy.name!r} needs no approval to run a request (approvers.run_request is "
                            "empty)")
    policy.require_role("run_request", role)
    if record.state != "received":
        raise WorkflowError(f"request {request_id} is already {record.state}: approval comes before the run")
    if status.identity_required and status.identity is None:
        raise WorkflowError("record the identity verification first: an approval vouches for a verified request")
    actor = _name(actor, "who approves it")
    if actor == status.filed_by:
        raise WorkflowError(f"{actor} filed this request: a second person must approve it")
    if status.identity is not None and actor == status.identity.actor:
        raise WorkflowError(f"{actor} verified the subject's identity: a second person must approve it")
    if any(step.actor == actor for step in status.approvals):
        raise WorkflowError(f"{actor} already approved this request")
    record_policy(ledger, policy, actor)
    ledger.append(REQUEST_APPROVED, {"request_id": request_id, "role": role, "policy_digest": policy.digest},
                  actor=actor)


def close(ledger: Ledger, policy: Policy, request_id: str, outcome: Outcome, reason: str, actor: str) -> None:
    """Refuse or close a request nothing has run on yet: ``request.rejected`` with the reason, the outcome and who.

    Held under the request's lock, so a worker cannot start it meanwhile; a request a worker is running is refused
    with that reason (wait for it, or let it finish)."""
    if outcome not in ("refused", "closed"):
        raise WorkflowError(f"a request is refused or closed, not {outcome!r}")
    reason = reason.strip()
    if len(reason) < 5:
        raise WorkflowError("give the reason (the subject is told it)")
    actor = _name(actor, "who closes it")
    _open(ledger, request_id)
    with ledger.workspace.exclusive(request_id):
        record = _open(ledger, request_id)
        if record.state not in CLOSABLE_STATES:
            raise WorkflowError(f"request {request_id} is {record.state}: only a request nothing has run on yet "
                                f"({' or '.join(CLOSABLE_STATES)}) can be {outcome}")
        record_policy(ledger, policy, actor)
        ledger.append("request.rejected", {"request_id": request_id, "reason": reason, "outcome": outcome,
                                           "policy_digest": policy.digest}, actor=actor)


def open_request_for(ledger: Ledger, subject_refs: list[str]) -> RequestRecord | None:
    """The open request that already covers one of these subjects, if any (a new filing would duplicate it)."""
    wanted = set(subject_refs)
    return next((r for r in ledger.requests() if r.state not in FINAL_STATES and wanted & set(r.subject_refs)), None)
