"""The erasure engine: runs a request through its lifecycle, one ledger event per step, resumable.

    received → validated → planned → unlearned → data_erased → verified → certified
                   ↘ rejected (bad request)                      ↘ failed (verification did not pass)

1. *validated*: the subject still has data in the store.
2. *planned*: from the ledger, the subject's interaction ids and, for every deployment, the shards and
   checkpoints they trained; the subject's pairs go to a verification escrow in the store.
3. *unlearned*: each deployment's method forgets (new checkpoints recorded as they are made).
4. *data_erased*: the subject's rows and salt leave the store; the store file is rewritten.
5. *verified*: the verifier compares with a retrained reference and signs a report; then the escrow and
   the replaced checkpoints' artifacts are shredded — after this nothing of the subject's data remains.
6. *certified*: the verifier issues the signed certificate (JSON + PDF).

When the policy defers verification to the audit (``audit.defer_verification``), ``run`` stops at
*data_erased*; the audit then verifies the window's erasures with one shared reference and finishes them.
Every lifecycle event carries the policy's digest; the policy itself is recorded (``policy.activated``) before
the first event written under it. A deadline extension (:meth:`ErasureEngine.extend`) annotates a request
without changing its state.

A crash leaves the request in its last recorded state; ``run`` again continues from there. Each step is
safe to repeat: forgetting skips shards already retrained, erasing finds nothing left to erase.
The verifier is injected (``verify`` depends on ``unlearn``, not the other way round).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from ledger import Ledger, RequestError, RequestRecord
from policies import Policy, record_policy
from unlearn._artifacts import shred
from unlearn.adapters import framework_methods
from unlearn.methods import DeploymentPlan, get_method
from unlearn.progress import ProgressCallback, no_progress
from unlearn.requests import FINAL_STATES, ErasureRequest


class VerificationOutcome(BaseModel):
    """What the verifier reports back to the engine (the signed report itself is on disk)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: str
    report_path: str
    report_sha256: str
    passed: bool
    failed_checks: list[str]


class CertificateOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    certificate_id: str
    json_path: str
    pdf_path: str
    sha256: str


class RequestVerifier(Protocol):
    """Statistical verification and certification of a request, provided by the ``verify`` package."""

    def verify(self, ledger: Ledger, request_id: str, progress: ProgressCallback) -> VerificationOutcome: ...

    def certify(self, ledger: Ledger, request_id: str) -> CertificateOutcome: ...


class ErasureEngine:
    """Files and runs erasure requests against every deployment of one workspace."""

    def __init__(
        self, ledger: Ledger, policy: Policy, verifier: RequestVerifier | None = None,
        defer_verification: bool | None = None,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.verifier = verifier
        self.defer_verification = (policy.audit.defer_verification if defer_verification is None
                                   else defer_verification)

    # -- filing ---------------------------------------------------------------------------------
    def file(self, request: ErasureRequest, actor: str = "system") -> str:
        """Record a new request after checking it can be served; returns its id. Appends nothing on error."""
        self.ledger.require_dataset()
        subject_ref = self.ledger.workspace.subject_ref(request.subject)
        for other in self.ledger.requests():
            if other.received["subject_ref"] != subject_ref:
                continue
            if other.state not in FINAL_STATES:
                raise RequestError(f"request {other.request_id} for this subject is already open ({other.state})")
            if other.state == "certified":
                raise RequestError(f"subject already erased by request {other.request_id}")
        if self.ledger.store.subject(request.subject) is None:
            raise RequestError(f"unknown subject {request.subject!r}: no interactions of theirs in the store")
        routed = self._routed_method("subject")
        record_policy(self.ledger, self.policy, actor)
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        self.ledger.append(
            "request.received",
            {
                "request_id": request_id,
                "kind": "subject",
                "subject_ref": subject_ref,
                "regulation": request.regulation,
                "basis": request.basis,
                "notes": request.notes,
                "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "routed_method": routed,
                "policy_digest": self.policy.digest,
            },
            actor=actor,
        )
        return request_id

    def _routed_method(self, kind: str) -> str | None:
        """The policy's method for this request kind, checked against every deployment it must forget from."""
        routed = self.policy.routing.method_for(kind)
        if routed is None:
            return None
        for deployment in self.ledger.deployments():
            if deployment["method"] != routed:
                raise RequestError(
                    f"policy {self.policy.name!r} routes {kind} requests to {routed!r}, but deployment "
                    f"{deployment['deployment_id']} was trained with {deployment['method']!r}, whose checkpoints "
                    f"only {deployment['method']!r} can replace"
                )
        return routed

    def extend(self, request_id: str, months: int, reason: str, actor: str = "system",
               role: str = "officer") -> RequestRecord:
        """Extend an open request's deadline by ``months`` (GDPR Art. 12(3)): at most the policy's total, with a
        reason, decided before the current due date passes; recorded as ``request.extended``."""
        self.policy.require_role("extend_deadline", role)
        record = self.require(request_id)
        if record.state in FINAL_STATES:
            raise RequestError(f"request {request_id} is {record.state}: only an open request's deadline can be extended")
        reason = reason.strip()
        if not reason:
            raise RequestError("an extension needs a reason: Art. 12(3) requires telling the subject why")
        if months < 1:
            raise RequestError(f"an extension is at least one month, got {months}")
        allowed, already = self.policy.deadlines.max_extension_months, record.extension_months
        if already + months > allowed:
            raise RequestError(
                f"request {request_id} is already extended by {already} month(s); {months} more would make "
                f"{already + months}, over policy {self.policy.name!r}'s maximum of {allowed}"
            )
        due = self.policy.deadlines.due_date(record)
        today = datetime.now(timezone.utc).date()
        if today > due:
            raise RequestError(f"request {request_id} was due on {due.isoformat()}: a missed deadline cannot be extended")
        record_policy(self.ledger, self.policy, actor)
        self.ledger.extend_request(request_id, months, reason, actor, previous_due=due.isoformat(),
                                   approved_by_role=role, policy_digest=self.policy.digest)
        return self.require(request_id)

    def require(self, request_id: str) -> RequestRecord:
        record = self.ledger.request(request_id)
        if record is None:
            raise RequestError(f"unknown request id {request_id!r}")
        return record

    # -- running --------------------------------------------------------------------------------
    def run(self, request_id: str, progress: ProgressCallback = no_progress, actor: str = "system") -> RequestRecord:
        """Carry the request from its current state to ``certified`` (or ``rejected``/``failed``)."""
        with self.ledger.workspace.exclusive(request_id):
            return self._run_locked(request_id, progress, actor)

    def _run_locked(self, request_id: str, progress: ProgressCallback, actor: str) -> RequestRecord:
        record = self.require(request_id)
        if record.state in FINAL_STATES:
            raise RequestError(f"request {request_id} is already {record.state}; nothing to run")
        record_policy(self.ledger, self.policy, actor)
        steps = {
            "received": self._validate,
            "validated": self._plan,
            "planned": self._unlearn,
            "unlearned": self._erase_data,
            "data_erased": self._verify,
            "verified": self._certify,
        }
        while record.state in steps:
            if record.state == "data_erased" and self.defer_verification:
                break  # the policy leaves verification to the next audit (one shared reference for the window)
            steps[record.state](record, progress, actor)
            record = self.require(request_id)
        self.ledger.checkpoint()  # a signed tree head after every request, for auditors to keep
        return record

    def preview(self, subject_ref: str) -> list[DeploymentPlan]:
        """The plans a request for this subject would get now, without recording anything."""
        ids = self.ledger.subject_interaction_ids(subject_ref)
        plans = []
        for deployment in self.ledger.deployments():
            plan = get_method(deployment["method"]).plan(self.ledger, deployment["deployment_id"], ids)
            if plan.shards:
                plans.append(plan.model_copy(update={"applicable_methods": framework_methods(
                    deployment["settings"]["base_model"])}))
        return plans

    # -- steps ----------------------------------------------------------------------------------
    def _append(self, state: str, record: RequestRecord, payload: dict[str, Any], actor: str) -> None:
        self.ledger.append(f"request.{state}",
                           {"request_id": record.request_id, **payload, "policy_digest": self.policy.digest}, actor=actor)

    def _validate(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        if self.ledger.store.subject_by_ref(record.received["subject_ref"]) is None:
            self._append("rejected", record, {"reason": "the subject has no data in the store"}, actor)
        else:
            self._append("validated", record, {}, actor)

    def _plan(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        subject_ref = record.received["subject_ref"]
        found = self.ledger.store.subject_by_ref(subject_ref)
        if found is None:
            self._append("rejected", record, {"reason": "the subject's data vanished before planning"}, actor)
            return
        plans = self.preview(subject_ref)
        escrowed = self.ledger.store.escrow(record.request_id, found[1])
        self._append(
            "planned",
            record,
            {
                "interaction_ids": self.ledger.subject_interaction_ids(subject_ref),
                "deployments": [
                    {**plan.model_dump(mode="json"),
                     "live_before": {str(s): c["checkpoint_id"]
                                     for s, c in self.ledger.live_checkpoints(plan.deployment_id).items()}}
                    for plan in plans
                ],
                "escrowed_pairs": escrowed,
            },
            actor,
        )

    def _unlearn(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        results = []
        for entry in record.require_payload("planned")["deployments"]:
            plan = DeploymentPlan(**{k: v for k, v in entry.items() if k != "live_before"})
            started = time.perf_counter()
            deployment = get_method(plan.method).forget(self.ledger, plan, record.request_id, progress, actor)
            results.append(
                {
                    "deployment_id": plan.deployment_id,
                    "seconds": round(time.perf_counter() - started, 3),
                    "replaced": [
                        {"shard": s.shard, "old": s.checkpoint_id, "new": deployment.checkpoints[s.shard]["checkpoint_id"]}
                        for s in plan.shards
                    ],
                }
            )
        self._append("unlearned", record, {"deployments": results}, actor)

    def _erase_data(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        rows = self.ledger.store.erase_subject(record.received["subject_ref"])
        self._append("data_erased", record, {"rows_erased": rows}, actor)

    def _verify(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        if self.verifier is None:
            raise RequestError("no verifier is configured: a request cannot be verified or certified without one")
        outcome = self.verifier.verify(self.ledger, record.request_id, progress)
        checkpoints = {c["checkpoint_id"]: c for c in self.ledger.checkpoints()}
        live = {c["checkpoint_id"] for d in self.ledger.deployments()
                for c in self.ledger.live_checkpoints(d["deployment_id"]).values()}
        to_shred = [
            checkpoints[replaced["old"]]["artifact_sha256"]
            for deployment in record.require_payload("unlearned")["deployments"]
            for replaced in deployment["replaced"]
            if replaced["old"] not in live  # a method that replaced nothing must not lose its serving model
        ]
        self._append("verified", record, {**outcome.model_dump(mode="json"), "shredded_artifacts": to_shred}, actor)
        self._finish(self.require(record.request_id), actor)

    def _certify(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        if self._finish(record, actor):
            assert self.verifier is not None  # a verified request had one
            outcome = self.verifier.certify(self.ledger, record.request_id)
            self._append("certified", record, outcome.model_dump(mode="json"), actor)

    def _finish(self, record: RequestRecord, actor: str) -> bool:
        """Shred what verification needed (escrow, replaced checkpoints); idempotent, so a crash right after
        ``verified`` is finished on the next run. Returns whether the request may be certified."""
        verified = record.require_payload("verified")
        for sha in verified["shredded_artifacts"]:
            shred(self.ledger.workspace.artifacts_dir, sha)
        self.ledger.store.shred_escrow(record.request_id)
        if verified["passed"]:
            return True
        if record.state != "failed":
            reason = "verification failed: " + ", ".join(verified["failed_checks"])
            self._append("failed", record, {"reason": reason}, actor)
        return False
