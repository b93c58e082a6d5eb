"""The erasure engine: runs a request through its lifecycle, one ledger event per step, resumable.

    received → validated → planned → unlearned → data_erased → verified → certified
                   ↘ rejected (bad request)                      ↘ failed (verification did not pass)

1. *validated*: the subject still has data in the store (for a narrower scope: some of the request's
   interactions are still there).
2. *planned*: from the ledger, the request's interaction ids (all of the subject's, or those its scope was
   resolved to at filing) and, for every deployment, the shards and checkpoints they trained; those pairs go
   to a verification escrow in the store.
3. *unlearned*: each deployment's method forgets (new checkpoints recorded as they are made).
4. *data_erased*: the request's rows leave the store (with the subject's salt: gone if nothing of theirs is
   left, replaced if some is); the store file is rewritten.
5. *verified*: the verifier compares with a retrained reference and signs a report; then the escrow and
   the replaced checkpoints' artifacts are shredded — after this nothing of the subject's data remains.
6. *certified*: the verifier issues the signed certificate (JSON + PDF).

With the policy's ``verification.certify_exact_on: lineage`` an exact method's report at step 5 rests on the lineage
proof alone (basis ``lineage``): the request is certified in seconds, keeping its escrow and the checkpoints it
replaced; :meth:`ErasureEngine.verify_statistically` (run by the audit, with the window's shared reference) later
signs the statistical report that follows it (``request.statistically_verified``) and only then shreds them.

When the policy defers verification to the audit (``audit.defer_verification``), ``run`` stops at
*data_erased*; the audit then verifies the window's erasures with one shared reference and finishes them. So does
a request whose verification was all inconclusive (an approximate method, a subject too small for any check to
decide): it records ``request.awaiting_window`` with that report and waits for the audit, whose window verifies
its subjects together; only the audit's verdict (``inconclusive_waits=False``) may fail it.
Every lifecycle event carries the policy's digest; the policy itself is recorded (``policy.activated``) before
the first event written under it. A deadline extension (:meth:`ErasureEngine.extend`) annotates a request
without changing its state.

A crash leaves the request in its last recorded state; ``run`` again continues from there. Each step is
safe to repeat: forgetting skips shards already retrained, erasing finds nothing left to erase.
The verifier is injected (``verify`` depends on ``unlearn``, not the other way round).

A *failed* request (its verification did not pass, after its rows were erased and its shards retrained) is not
answered: its deadline still runs (:data:`unlearn.requests.ANSWERED_STATES`), and :meth:`ErasureEngine.retry`
reopens it. The retry is a ``request.retried`` event (actor, the failure it retries, the state it resumes from);
the request's state is then that state — the last step that completed before the failure — so ``run`` carries it
on from there like after a crash: a failure at verification re-runs verification only, nothing planned, forgotten
or erased is redone, and the deadline does not move. For that, a failed verification keeps what verifying needs
(the escrowed pairs, the replaced checkpoints' artifacts) until a verification passes; only then are they shredded.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from ledger import (
    DEPLOYMENT_RETIRED,
    DEPLOYMENTS_LOCK,
    REQUEST_AWAITING_WINDOW,
    REQUEST_DUPLICATE_RECEIVED,
    REQUEST_STATISTICALLY_VERIFIED,
    Ledger,
    RequestError,
    RequestKind,
    RequestRecord,
)
from policies import Intake, Policy, record_policy
from unlearn.artifacts import has_artifact, shred
from unlearn.lifecycle import (
    awaiting_window,
    complete_deployments,
    latest_event,
    resume_point,
    statistics_pending,
)
from unlearn.methods import DeploymentPlan, MethodSettings, framework_methods, get_method
from unlearn.progress import ProgressCallback, no_progress
from unlearn.requests import (
    ANSWERED_STATES,
    FINAL_STATES,
    BatchErasureRequest,
    ErasureRequest,
    ListedInteractions,
    WholeSubject,
)
from unlearn.workflow import open_request_for, require_cleared


_UNDER_DEPLOYMENTS_LOCK = ("received", "validated", "planned", "unlearned")
"""The states whose steps (validate, plan, forget, erase) run holding the deployments lock."""
_MEASURES_AGAINST_BEFORE = ("planned", "unlearned", "data_erased", "failed")
"""States of a request whose (next) verification loads the checkpoints that served before it: they must not be
shredded yet."""


class VerificationOutcome(BaseModel):
    """What the verifier reports back to the engine (the signed report itself is on disk)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: str
    report_path: str
    report_sha256: str
    passed: bool
    failed_checks: list[str]
    basis: Literal["lineage", "statistics"] = "statistics"
    """lineage: the report rests on the lineage proof, its statistical verification follows (see the module doc)."""
    follows_report: str | None = None
    """For a statistical follow-up: the id of the lineage report it follows."""


class CertificateOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    certificate_id: str
    json_path: str
    pdf_path: str
    sha256: str


class RequestVerifier(Protocol):
    """Statistical verification and certification of a request, provided by the ``verify`` package."""

    def verify(self, ledger: Ledger, request_id: str, progress: ProgressCallback) -> VerificationOutcome: ...

    def verify_statistically(self, ledger: Ledger, request_id: str, progress: ProgressCallback) -> VerificationOutcome:
        """The statistical follow-up of a report whose basis was the lineage proof."""
        ...

    def certify(self, ledger: Ledger, request_id: str) -> CertificateOutcome: ...


class ErasureEngine:
    """Files and runs erasure requests against every deployment of one workspace."""

    def __init__(
        self, ledger: Ledger, policy: Policy, verifier: RequestVerifier | None = None,
        defer_verification: bool | None = None, inconclusive_waits: bool = True,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.verifier = verifier
        self.defer_verification = (policy.audit.defer_verification if defer_verification is None
                                   else defer_verification)
        self.inconclusive_waits = inconclusive_waits

    # -- filing ---------------------------------------------------------------------------------
    def file(self, request: ErasureRequest | BatchErasureRequest, actor: str = "system",
             intake: Intake | None = None) -> str:
        """Record a new request after checking it can be served; returns its id. Appends nothing on error, except
        for a duplicate: a subject is in one open request at a time, and a second filing for them is flagged on the
        open one (``request.duplicate_received``: who, from where, when) before it is refused.

        A narrower scope (listed items, a time window) is resolved here, against the store, into the subject's
        interaction ids: the ledger records those ids, never the items. ``intake`` (console, api, cli, system) is
        recorded when given: the policy's ``workflow`` says which intakes must verify identity before a run.
        """
        self.ledger.require_dataset()
        duplicated = open_request_for(self.ledger, [self.ledger.workspace.subject_ref(s) for s in request.subjects])
        if duplicated is not None:
            self.ledger.append(REQUEST_DUPLICATE_RECEIVED, {
                "request_id": duplicated.request_id, "intake": intake, "kind": request.kind.value,
                "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, actor=actor)
        servable = [self._servable(subject) for subject in request.subjects]
        refs = [ref for ref, _, _ in servable]
        scope_facts = ({} if isinstance(request, BatchErasureRequest)
                       else self._resolve_scope(request, servable[0][1], servable[0][2]))
        routed = self._routed_method(request.kind)
        record_policy(self.ledger, self.policy, actor)
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        self.ledger.append(
            "request.received",
            {
                "request_id": request_id,
                "kind": request.kind.value,
                **({"subject_refs": refs} if isinstance(request, BatchErasureRequest) else {"subject_ref": refs[0]}),
                **scope_facts,
                "regulation": request.regulation,
                "basis": request.basis,
                "notes": request.notes,
                "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "routed_method": routed,
                **({"intake": intake} if intake is not None else {}),
                "policy_digest": self.policy.digest,
            },
            actor=actor,
        )
        return request_id

    def _servable(self, subject: str) -> tuple[str, int, list[str]]:
        """``(subject_ref, user_idx, earlier partial erasures)`` of a subject a new request may cover; raises
        :class:`RequestError` naming the subject when another request holds them or their data is gone."""
        subject_ref = self.ledger.workspace.subject_ref(subject)
        earlier, failed = [], []
        for other in self.ledger.requests():
            if subject_ref not in other.subject_refs:
                continue
            if other.state not in FINAL_STATES:
                raise RequestError(f"request {other.request_id} for subject {subject!r} is already open ({other.state})")
            if other.state == "failed":
                failed.append(other)
            if other.state == "certified":
                if other.kind.whole_subjects:
                    raise RequestError(f"subject {subject!r} already erased by request {other.request_id}")
                earlier.append(other.request_id)
        found = self.ledger.store.subject(subject)
        if found is None and failed:
            # the failed request erased the data; a new one would have nothing to plan. Its retry re-plans.
            rid = failed[-1].request_id
            raise RequestError(f"subject {subject!r}'s data was erased by request {rid}, which failed "
                               f"({failed[-1].require_payload('failed')['reason']}): finish that request with "
                               f"`lethe request retry {rid} --run` (it resumes from {self._resume_from(failed[-1])})")
        if found is None:
            raise RequestError(f"unknown subject {subject!r}: no interactions of theirs in the store")
        return subject_ref, found[1], earlier

    def _resolve_scope(self, request: ErasureRequest, user_idx: int, erased_by: list[str]) -> dict[str, Any]:
        """The ledger facts of a request's scope: nothing for a whole subject, else the interaction ids it covers
        (and the window's bounds). A scope that covers nothing is refused with the reason."""
        scope = request.scope
        if isinstance(scope, WholeSubject):
            return {}
        earlier = f" (earlier erasures of this subject: {', '.join(erased_by)})" if erased_by else ""
        if isinstance(scope, ListedInteractions):
            ids, missing = self.ledger.store.scope_interaction_ids(user_idx, items=scope.items)
            if missing:
                raise RequestError(f"subject {request.subject!r} has no interaction with item(s) "
                                   f"{', '.join(missing)} in the store{earlier}")
            return {"interaction_ids": ids, "items_listed": len(scope.items)}
        ids, _ = self.ledger.store.scope_interaction_ids(user_idx, window=scope.bounds())
        if not ids:
            raise RequestError(f"subject {request.subject!r} has no interaction in the store from "
                               f"{scope.start.isoformat()} until {scope.end.isoformat()}{earlier}")
        return {"interaction_ids": ids,
                "window": {"start": scope.start.isoformat(), "end": scope.end.isoformat()}}

    def _scope_ids(self, record: RequestRecord) -> list[int]:
        """The interaction ids a request covers: those resolved at filing, or all its subjects have in the store."""
        if "interaction_ids" in record.received:
            return [int(i) for i in record.received["interaction_ids"]]
        return sorted(i for ref in record.subject_refs for i in self._stored_ids(ref))

    def _stored_ids(self, subject_ref: str) -> list[int]:
        """The subject's interaction ids still in the store (an earlier partial erasure removed some)."""
        found = self.ledger.store.subject_by_ref(subject_ref)
        if found is None:
            return []
        return self.ledger.store.interactions(user_idx=found[1])["interaction_id"].astype(int).tolist()

    def _routed_method(self, kind: RequestKind) -> str | None:
        """The policy's method for this request kind, checked against every deployment it must forget from."""
        routed = self.policy.routing.method_for(kind)
        if routed is None:
            return None
        for deployment in self.ledger.deployments():
            if deployment.method != routed:
                raise RequestError(
                    f"policy {self.policy.name!r} routes {kind.value} requests to {routed!r}, but deployment "
                    f"{deployment.deployment_id} was trained with {deployment.method!r}, whose checkpoints "
                    f"only {deployment.method!r} can replace"
                )
        return routed

    def extend(self, request_id: str, months: int, reason: str, actor: str = "system",
               role: str = "officer") -> RequestRecord:
        """Extend an open request's deadline by ``months`` (GDPR Art. 12(3)): at most the policy's total, with a
        reason, decided before the current due date passes; recorded as ``request.extended``. A failed request is
        still open for its deadline (it awaits a retry), so it can be extended too."""
        self.policy.require_role("extend_deadline", role)
        record = self.require(request_id)
        if record.state in ANSWERED_STATES:
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

    # -- retrying -------------------------------------------------------------------------------
    def retry(self, request_id: str, actor: str = "system") -> RequestRecord:
        """Reopen a failed request: record ``request.retried`` (who, the failure retried, the state it resumes from,
        when) and return the request, now open in that state; ``run`` then carries it on from there.

        Only a failed request can be retried; an unknown, open, certified or rejected one is refused with the reason
        (appending nothing). Nothing recorded is redone: the request resumes from the last step that completed
        before the failure (a failure at verification re-runs verification only). The deadline does not change.
        """
        actor = actor.strip()
        if not actor or any(ord(ch) < 32 for ch in actor):
            raise RequestError("a retry is recorded with who retried it: give a name (no control characters)")
        self.require(request_id)  # an unknown id is refused before any lock file is made (it changes nothing)
        with self.ledger.workspace.exclusive(request_id):
            record = self.require(request_id)
            if record.state != "failed":
                raise RequestError(_not_retryable(record))
            failed = latest_event(record, "request.failed")
            resumes_from = self._resume_from(record)
            if resumes_from in ("planned", "data_erased"):
                self._require_verifiable(record)
            record_policy(self.ledger, self.policy, actor)
            self._append("retried", record, {
                "retries_failure": failed.payload["reason"],
                "failed_seq": failed.seq,
                "resumes_from": resumes_from,
                "attempt": len(record.retries) + 2,  # the first run was attempt 1
                "retried_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "due": self.policy.deadlines.due_date(record).isoformat(),  # unchanged: received + extensions
            }, actor)
        return self.require(request_id)

    def _resume_from(self, record: RequestRecord) -> str:
        """Where a retry of a failed request resumes: after the last step that completed, unless a complete
        deployment's serving checkpoints still train on the request's ids (a forget lost to a concurrent one, by a
        Lethe version that let two run at once) — then from ``planned``: re-planned against what serves now,
        forgotten again, verified again. Nothing else recorded is redone."""
        planned = record.payload("planned")
        if planned is not None and record.payload("unlearned") is not None and self._plans(planned["interaction_ids"]):
            return "planned"
        return resume_point(record)

    def _require_verifiable(self, record: RequestRecord) -> None:
        """Refuse a retry at verification when what verifying needs is gone: a request that failed before failed
        verifications kept their escrow and replaced checkpoints had both shredded at once."""
        planned = record.require_payload("planned")
        gone = []
        if planned.get("escrowed_pairs") and self.ledger.store.escrowed(record.request_id).empty:
            gone.append(f"its {planned['escrowed_pairs']} escrowed pair(s)")
        verified = record.payload("verified") or {}
        missing = [sha for sha in verified.get("shredded_artifacts", [])
                   if not has_artifact(self.ledger.workspace.artifacts_dir, sha)]
        if missing:
            gone.append(f"{len(missing)} replaced checkpoint artifact(s)")
        if gone:
            raise RequestError(
                f"request {record.request_id} cannot be verified again: {' and '.join(gone)} were shredded when it "
                "failed (by a Lethe version that did not keep them for a retry); its erasure stands as recorded, but "
                "no certificate can be issued for it"
            )

    # -- deployments ----------------------------------------------------------------------------
    def retire(self, deployment_id: str, reason: str, actor: str = "system") -> list[str]:
        """Give up a deployment whose training was interrupted (the other way out is re-running that `lethe train`):
        shred its checkpoints' artifacts, then record ``deployment.retired`` (who, why, what was shredded); returns
        the shredded artifacts' sha256. It leaves :meth:`Ledger.deployments`, so no audit or proof counts it again.
        A complete deployment is refused — requests' reports and certificates name it — and so is any while a
        request or a training holds the deployments lock (it may be the one being trained)."""
        reason = reason.strip()
        if not reason or any(ord(ch) < 32 for ch in reason):
            raise RequestError("retiring a deployment is recorded with why: give a reason (one line)")
        with self.ledger.workspace.exclusive(DEPLOYMENTS_LOCK):
            deployment = next((d for d in self.ledger.deployments() if d.deployment_id == deployment_id), None)
            if deployment is None:
                raise RequestError(f"unknown deployment {deployment_id!r} (or already retired)")
            if deployment_id in {d.deployment_id for d in complete_deployments(self.ledger)}:
                raise RequestError(f"deployment {deployment_id} is complete: only an interrupted training is retired")
            shards = sum(1 for shard in self.ledger.live_checkpoints(deployment_id) if shard >= 0)
            artifacts = sorted({c.artifact_sha256 for c in self.ledger.checkpoints(deployment_id)})
            for sha in artifacts:  # first: a crash here leaves the deployment to retire again, never files behind
                shred(self.ledger.workspace.artifacts_dir, sha)
            self.ledger.append(DEPLOYMENT_RETIRED, {
                "deployment_id": deployment_id, "reason": reason,
                "live_shards": shards, "shards": int(deployment.settings["shards"]),
                "shredded_artifacts": artifacts,
            }, actor=actor)
        return artifacts

    # -- running --------------------------------------------------------------------------------
    def run(self, request_id: str, progress: ProgressCallback = no_progress, actor: str = "system") -> RequestRecord:
        """Carry the request from its current state to ``certified`` (or ``rejected``/``failed``).

        From validation until its rows are erased the request holds the workspace's deployments lock (waiting its
        turn behind other requests and trainings): it plans against, and forgets from, the checkpoints serving at
        that moment, and nobody else replaces them meanwhile — two requests hitting one shard take turns instead of
        both retraining it from the same checkpoint (which resurrected the first one's subject)."""
        self.require(request_id)  # an unknown id (or one that is no id at all) is refused before any lock file
        with self.ledger.workspace.exclusive(request_id):
            return self._run_locked(request_id, progress, actor)

    def _run_locked(self, request_id: str, progress: ProgressCallback, actor: str) -> RequestRecord:
        record = self.require(request_id)
        if record.state == "failed":
            raise RequestError(
                f"request {request_id} failed ({record.require_payload('failed')['reason']}); retry it with "
                f"`lethe request retry {request_id} --run` (it resumes from {self._resume_from(record)}; nothing "
                "recorded is redone)"
            )
        if record.state in FINAL_STATES:
            raise RequestError(f"request {request_id} is already {record.state}; nothing to run")
        require_cleared(record, self.policy)  # identity verified / approved first, when the policy gates its intake
        record_policy(self.ledger, self.policy, actor)
        steps = {
            "received": self._validate,
            "validated": self._plan,
            "planned": self._unlearn,
            "unlearned": self._erase_data,
            "data_erased": self._verify,
            "verified": self._certify,
        }
        if record.state in _UNDER_DEPLOYMENTS_LOCK:
            with self.ledger.workspace.exclusive(DEPLOYMENTS_LOCK, wait=math.inf):
                record = self._steps(record, steps, _UNDER_DEPLOYMENTS_LOCK, progress, actor)
        record = self._steps(record, steps, tuple(steps), progress, actor)
        self.ledger.checkpoint()  # a signed tree head after every request, for auditors to keep
        return record

    def _steps(self, record: RequestRecord, steps: dict[str, Any], states: tuple[str, ...],
               progress: ProgressCallback, actor: str) -> RequestRecord:
        """Run the request's steps while its state is one of ``states``; returns it as it then stands."""
        record = self.require(record.request_id)  # as it stands now that this process holds what it waited for
        while record.state in states and record.state in steps:
            if record.state == "data_erased" and (self.defer_verification or (
                    self.inconclusive_waits and awaiting_window(record))):
                break  # verification is left to the next audit (one shared reference for the window)
            steps[record.state](record, progress, actor)
            record = self.require(record.request_id)
        return record

    def preview(self, subject_ref: str, interaction_ids: list[int] | None = None) -> list[DeploymentPlan]:
        """The plans a request for this subject (all their interactions, or the given ones) would get now,
        without recording anything."""
        return self._plans(self._stored_ids(subject_ref) if interaction_ids is None else interaction_ids)

    def preview_request(self, record: RequestRecord) -> list[DeploymentPlan]:
        """The plans a filed, not yet planned request would get now (its scope's interactions)."""
        return self._plans(self._scope_ids(record))

    def _plans(self, ids: list[int]) -> list[DeploymentPlan]:
        """The plan of every complete deployment (:func:`unlearn.lifecycle.complete_deployments`) these ids hit."""
        plans = []
        for deployment in complete_deployments(self.ledger):
            plan = get_method(deployment.method).plan(self.ledger, deployment.deployment_id, ids)
            if plan.shards:
                plans.append(plan.model_copy(update={"applicable_methods": framework_methods(
                    MethodSettings(**deployment.settings).base_model)}))
        return plans

    # -- steps ----------------------------------------------------------------------------------
    def _append(self, state: str, record: RequestRecord, payload: dict[str, Any], actor: str) -> None:
        self.ledger.append(f"request.{state}",
                           {"request_id": record.request_id, **payload, "policy_digest": self.policy.digest}, actor=actor)

    def _validate(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        users = self._stored_users(record)
        if users is None:
            self._append("rejected", record, {"reason": "a subject of the request has no data in the store"}, actor)
        elif "interaction_ids" in record.received and not self._still_stored(record, users[0]):
            self._append("rejected", record, {"reason": "none of the request's interactions is left in the store"},
                         actor)
        else:
            self._append("validated", record, {}, actor)

    def _stored_users(self, record: RequestRecord) -> list[int] | None:
        """The store's user index of every subject of the request, or ``None`` if one has no data left."""
        users = []
        for ref in record.subject_refs:
            found = self.ledger.store.subject_by_ref(ref)
            if found is None:
                return None
            users.append(found[1])
        return users

    def _still_stored(self, record: RequestRecord, user_idx: int) -> bool:
        stored = self.ledger.store.interactions(user_idx=user_idx)["interaction_id"]
        return bool(stored.isin(self._scope_ids(record)).any())

    def _plan(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        if self._stored_users(record) is None:
            self._append("rejected", record, {"reason": "a subject's data vanished before planning"}, actor)
            return
        ids = self._scope_ids(record)
        plans = self._plans(ids)
        escrowed = self.ledger.store.escrow(record.request_id, ids)
        self._append(
            "planned",
            record,
            {
                "interaction_ids": ids,
                "deployments": [self._plan_entry(plan) for plan in plans],
                "escrowed_pairs": escrowed,
            },
            actor,
        )

    def _rebase(self, record: RequestRecord, actor: str) -> RequestRecord:
        """Re-plan a request against the checkpoints serving now, if they moved since it was planned.

        Within one run nothing moves (the deployments lock is held from plan to erasure), but a run killed after
        planning lets others go first: another request retrains a shard of the plan, a training adds a deployment, a
        retry finds the serving checkpoints still hold the ids. A shard the recorded plan lists and the fresh one
        does not is done (its serving checkpoint excludes the ids already: this request's own work before a crash)
        and is kept as recorded; any fresh entry that differs from the recorded one makes a new ``planned`` event
        (``rebased``: the checkpoints it replaces), so forgetting starts from what serves."""
        planned = record.require_payload("planned")
        recorded = {(d["deployment_id"], s["shard"]): s["checkpoint_id"]
                    for d in planned["deployments"] for s in d["shards"]}
        fresh = self._plans(planned["interaction_ids"])
        moved = [(p.deployment_id, s.shard) for p in fresh for s in p.shards
                 if recorded.get((p.deployment_id, s.shard)) != s.checkpoint_id]
        if not moved:
            return record
        entries = {d["deployment_id"]: d for d in planned["deployments"]}
        deployments = []
        for plan in fresh:
            entry = self._plan_entry(plan)
            done = [s for s in entries.pop(plan.deployment_id, {"shards": []})["shards"]
                    if s["shard"] not in {f.shard for f in plan.shards}]
            deployments.append({**entry, "shards": sorted([*entry["shards"], *done], key=lambda s: s["shard"])})
        deployments.extend(entries.values())  # deployments done entirely before a crash
        self._append("planned", record, {
            **planned, "deployments": deployments,
            "rebased": [{"deployment_id": d, "shard": s} for d, s in moved],
        }, actor)
        return self.require(record.request_id)

    def _plan_entry(self, plan: DeploymentPlan) -> dict[str, Any]:
        """A deployment's plan as the ``planned`` event records it, with the checkpoints serving before."""
        return {**plan.model_dump(mode="json"),
                "live_before": {str(s): c.checkpoint_id
                                for s, c in self.ledger.live_checkpoints(plan.deployment_id).items()}}

    def _unlearn(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        record = self._rebase(record, actor)
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
                        {"shard": s.shard, "old": s.checkpoint_id, "new": deployment.checkpoints[s.shard].checkpoint_id}
                        for s in plan.shards
                    ],
                }
            )
        self._append("unlearned", record, {"deployments": results}, actor)

    def _erase_data(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        only = record.received.get("interaction_ids")  # a narrower scope; a whole subject or a batch: None
        rows = sum(self.ledger.store.erase_interactions(ref, only) for ref in record.subject_refs)
        earlier = record.payload("data_erased")  # a re-planned retry erases again: nothing is left, the count stands
        self._append("data_erased", record, {"rows_erased": rows + (earlier["rows_erased"] if earlier else 0)}, actor)

    def _verify(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        if self.verifier is None:
            raise RequestError("no verifier is configured: a request cannot be verified or certified without one")
        outcome = self.verifier.verify(self.ledger, record.request_id, progress)
        if not outcome.passed and not outcome.failed_checks and self.inconclusive_waits:
            self.ledger.append(REQUEST_AWAITING_WINDOW, {
                "request_id": record.request_id, **outcome.model_dump(mode="json", include={
                    "report_id", "report_path", "report_sha256"}),
                "reason": "verification inconclusive: no check could tell this model from one that forgot nothing "
                          "on this request alone; the audit's window verifies its subjects together",
                "audit_due": self.policy.audit.next_run(datetime.now(timezone.utc)).date().isoformat(),
                "policy_digest": self.policy.digest}, actor=actor)
            return
        # a certificate on the lineage proof keeps what its statistical follow-up measures (escrow, replaced models)
        to_shred = [] if outcome.passed and outcome.basis == "lineage" else self._shreddable(record, outcome.passed)
        self._append("verified", record, {**outcome.model_dump(mode="json"), "shredded_artifacts": to_shred}, actor)
        self._finish(self.require(record.request_id), actor)

    def verify_statistically(self, request_id: str, progress: ProgressCallback = no_progress,
                             actor: str = "system") -> RequestRecord:
        """Run the statistical verification a certificate issued on the lineage proof promised: sign the second
        report (it names the first), record ``request.statistically_verified``, and when it passes shred what it
        needed (escrow, replaced checkpoints). A failing one keeps them and stays pending: the audit reports it and
        tries again. Idempotent: a crash after the event finishes the shredding on the next call."""
        self.require(request_id)
        with self.ledger.workspace.exclusive(request_id):
            record = self.require(request_id)
            if statistics_pending(record):
                if self.verifier is None:
                    raise RequestError("no verifier is configured: a request cannot be verified without one")
                outcome = self.verifier.verify_statistically(self.ledger, request_id, progress)
                self.ledger.append(REQUEST_STATISTICALLY_VERIFIED, {
                    "request_id": request_id, **outcome.model_dump(mode="json"),
                    "shredded_artifacts": self._shreddable(record, outcome.passed) if outcome.passed else [],
                    "policy_digest": self.policy.digest}, actor=actor)
                record = self.require(request_id)
            follow_up = record.payload(REQUEST_STATISTICALLY_VERIFIED.removeprefix("request."))
            if follow_up is None:
                raise RequestError(f"request {request_id} is {record.state}, not certified on its lineage proof: "
                                   "it has no statistical follow-up to run")
            if follow_up["passed"]:
                self._shred(record, follow_up["shredded_artifacts"])
        return record

    def _replaced_artifacts(self, records: list[RequestRecord], keep: frozenset[str] = frozenset()) -> list[str]:
        """The artifacts of the checkpoints these requests replaced (every forget of theirs: a re-planned retry forgot
        twice), except those of the checkpoints in ``keep``."""
        checkpoints = {c.checkpoint_id: c for c in self.ledger.checkpoints()}
        kept = {checkpoints[c].artifact_sha256 for c in keep if c in checkpoints}
        return sorted({
            checkpoints[replaced["old"]].artifact_sha256
            for other in records for event in other.history if event.kind == "request.unlearned"
            for deployment in event.payload["deployments"] for replaced in deployment["replaced"]
            if replaced["old"] not in keep
        } - kept)

    def _shreddable(self, record: RequestRecord, passed: bool) -> list[str]:
        """What a passing verification may shred: the checkpoints this request and every earlier-verified one replaced,
        unless one serves (a method that replaced nothing must not lose its serving model) or a request still to be
        verified measures against it (its plan's ``live_before``: requests forget in any order, so another's
        verification may still need a checkpoint this one replaced — it is shredded when that one passes). After a
        failing one: the checkpoints this request replaced, kept for its retry (see :meth:`_finish`).

        The serving checkpoints are read before the requests: a checkpoint replaced after that read was planned
        against (under the deployments lock) before it was replaced, so its planner is among the requests read."""
        live = {c.checkpoint_id for d in self.ledger.deployments()
                for c in self.ledger.live_checkpoints(d.deployment_id).values()}
        if not passed:
            return self._replaced_artifacts([record], frozenset(live))
        requests = self.ledger.requests()
        needed = {cid for other in requests
                  if other.request_id != record.request_id
                  and (other.state in _MEASURES_AGAINST_BEFORE or statistics_pending(other))
                  for entry in other.require_payload("planned")["deployments"] for cid in entry["live_before"].values()}
        verified = [other for other in requests
                    if other.request_id == record.request_id or (other.payload("verified") or {}).get("passed")]
        artifacts = self.ledger.workspace.artifacts_dir
        return [sha for sha in self._replaced_artifacts(verified, frozenset(live | needed))
                if has_artifact(artifacts, sha)]

    def _certify(self, record: RequestRecord, progress: ProgressCallback, actor: str) -> None:
        if self._finish(record, actor):
            assert self.verifier is not None  # a verified request had one
            outcome = self.verifier.certify(self.ledger, record.request_id)
            self._append("certified", record, outcome.model_dump(mode="json"), actor)

    def _finish(self, record: RequestRecord, actor: str) -> bool:
        """After a passing verification, shred what it needed (escrow, replaced checkpoints); idempotent, so a crash
        right after ``verified`` is finished on the next run. After a failing one, record ``failed`` and keep both:
        a retry verifies again and needs them (they are shredded when a verification passes). Returns whether the
        request may be certified."""
        verified = record.require_payload("verified")
        if verified["passed"]:
            if verified.get("basis") != "lineage":  # else its statistical follow-up measures the escrow
                self._shred(record, verified["shredded_artifacts"])
            return True
        if record.state != "failed":
            reason = ("verification failed: " + ", ".join(verified["failed_checks"]) if verified["failed_checks"] else
                      "verification inconclusive: no check could tell this model from one that forgot nothing, "
                      "and the method is not exact")
            kept = {"escrowed_pairs": len(self.ledger.store.escrowed(record.request_id)),
                    "replaced_checkpoints": len(verified["shredded_artifacts"])}
            self._append("failed", record, {"reason": reason, "kept_for_retry": kept}, actor)
        return False


    def _shred(self, record: RequestRecord, artifacts: list[str]) -> None:
        """Destroy what a passing verification needed: the replaced checkpoints' artifacts and the escrowed pairs."""
        for sha in artifacts:
            shred(self.ledger.workspace.artifacts_dir, sha)
        self.ledger.store.shred_escrow(record.request_id)


def _not_retryable(record: RequestRecord) -> str:
    """Why a request that is not failed cannot be retried, and what to do instead."""
    rid = record.request_id
    if record.state == "certified":
        certified = record.require_payload("certified")
        return f"request {rid} is certified (certificate {certified['json_path']}): there is no failure to retry"
    if record.state == "rejected":
        return (f"request {rid} was rejected ({record.require_payload('rejected')['reason']}): a rejected request "
                "cannot be retried; file a new one if the subject still has data to erase")
    return (f"request {rid} is still open ({record.state}): only a failed request can be retried; run it with "
            f"`lethe request run {rid}`")
