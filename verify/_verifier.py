"""The request verifier the engine calls: evidence against retrained references, then the certificate.

Verification of one request, in order:
1. lineage proof of every deployment (exact methods; ledger only, immediate);
2. load the measured deployment as it was before the request (replaced checkpoints still exist) and after;
3. the case: the request's escrowed pairs (forgotten training pairs, held-out test pairs) and the data left;
4. references: the reference retrain, Retrain* and the damaged control on the remaining data, plus the trained
   membership attack —
   reused when the caller passed ones for this deployment and remaining data (an audit window), else trained;
5. measure and judge (``verify._evidence``): re-predict, RBO@k, both membership attacks, latent distance, utility;
6. sign the report as an in-toto-like statement in a DSSE-style envelope (fails closed: no check, no pass).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ledger import Ledger, RequestError, RequestRecord, SignedCheckpoint, sha256_hex
from policies import Policy
from unlearn.engine import CertificateOutcome, VerificationOutcome
from unlearn.lifecycle import complete_deployments
from unlearn.methods import MethodSettings, get_method
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions, training_set_digest
from verify._certificate import Certificate, DeadlineExtension, Verdict
from verify._certificate_pdf import issue_certificate
from verify._evidence import ErasureCase, judge, measure, model_replaced
from verify._lineage import prove_lineage
from verify._reference import ReferenceKey, ReferenceModels
from verify._report import (
    REPORT_PAYLOAD_TYPE,
    CheckpointSwap,
    ErasureScope,
    MetricCheck,
    ReferenceInfo,
    ReportReference,
    ReportStatement,
    ResourceDescriptor,
    VerificationReport,
    evidence_passes,
    load_report,
    payload_digest,
    save_envelope,
    sign_payload,
)
from verify.names import LINEAGE, ORIGINAL, SCORE_CHANGE, UNLEARNED


def _record(ledger: Ledger, request_id: str) -> RequestRecord:
    record = ledger.request(request_id)
    assert record is not None  # the engine verifies requests it has read
    return record


def _escrowed_pairs(escrow: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The request's escrowed ``(users, items)`` of one split."""
    rows = escrow[escrow["split"] == split]
    return rows["user_idx"].to_numpy(np.int64), rows["item_idx"].to_numpy(np.int64)


def _descriptor(name: str, sha256: str) -> ResourceDescriptor:
    return ResourceDescriptor(name=name, digest={"sha256": sha256.removeprefix("sha256:")})


class StatisticalVerifier:
    """Implements the engine's ``RequestVerifier`` with the thresholds of one policy.

    ``references`` are retrains trained beforehand for an audit window; a request whose deployment and
    remaining data match one reuses it, any other request trains its own.
    """

    def __init__(self, policy: Policy, references: Iterable[ReferenceModels] = (),
                 lineage_first: bool | None = None) -> None:
        self.policy = policy
        self.references: dict[ReferenceKey, ReferenceModels] = {r.key: r for r in references}
        self.lineage_first = policy.verification.certify_exact_on == "lineage" if lineage_first is None \
            else lineage_first
        """Certify exact methods on the lineage proof first (the policy's choice; the audit, whose window shares
        references anyway, verifies statistically at once)."""

    # -- verification ---------------------------------------------------------------------------
    def verify(self, ledger: Ledger, request_id: str, progress: ProgressCallback) -> VerificationOutcome:
        """The request's report: on the lineage proof alone when the policy certifies exact methods on it and the
        request's deployments were all forgotten exactly; else with every statistical check."""
        record = _record(ledger, request_id)
        planned = record.require_payload("planned")
        lineage_first = (self.lineage_first and bool(planned["deployments"])
                         and all(e["exact"] for e in planned["deployments"]))
        return self._verify(ledger, record, progress, statistics=not lineage_first)

    def verify_statistically(self, ledger: Ledger, request_id: str, progress: ProgressCallback) -> VerificationOutcome:
        """The statistical report that follows a lineage one: every check, naming the report it follows."""
        record = _record(ledger, request_id)
        first = record.require_payload("verified")
        follows = ReportReference(report_id=first["report_id"], sha256=first["report_sha256"])
        return self._verify(ledger, record, progress, statistics=True, follows=follows)

    def _verify(self, ledger: Ledger, record: RequestRecord, progress: ProgressCallback, statistics: bool,
                follows: ReportReference | None = None) -> VerificationOutcome:
        request_id = record.request_id
        planned, unlearned = record.require_payload("planned"), record.require_payload("unlearned")
        erased = set(planned["interaction_ids"])
        proofs = [prove_lineage(ledger, d.deployment_id, erased) for d in complete_deployments(ledger)]
        approximate = [p.deployment_id for p in proofs if not p.exact_claimed]
        checks = [
            MetricCheck(
                name=LINEAGE, value=None, threshold=None,
                comparison="no erased id in any serving checkpoint" + (
                    f"; approximate deployments ({', '.join(approximate)}): recorded ancestry only, exactness "
                    "not claimed" if approximate else ""),
                verdict="pass" if proofs and all(p.ok for p in proofs) else "fail",
                role="proof",
                detail="; ".join(p.summary for p in proofs) or "no deployment: there is no model to prove anything of",
            )
        ]
        swaps = [CheckpointSwap(old=r["old"], new=r["new"]) for d in unlearned["deployments"] for r in d["replaced"]]
        escrow = ledger.store.escrowed(request_id)
        subjects = [_descriptor("ledger-head", ledger.head_hash())]
        entry = self._target(ledger, planned)
        metrics: dict[str, dict[str, float]] = {}
        figures, reference = None, None
        dataset = ledger.require_dataset()
        if entry is None:
            deployment_id, method, exact, shards, seed = "none", "none", True, [], 0
        else:
            deployment_id, method = entry["deployment_id"], entry["method"]
            # exact only if every deployment the request hit was forgotten exactly (an approximate one may not
            # hide behind an exact serving one)
            exact = all(e["exact"] for e in planned["deployments"])
            settings = MethodSettings(**ledger.deployment(deployment_id).settings)
            shards, seed = [s["shard"] for s in entry["shards"]], settings.seed
            loader = get_method(method)
            before = {int(shard): cid for shard, cid in entry["live_before"].items()}
            original = loader.load(ledger, deployment_id, before).model
            after = loader.load(ledger, deployment_id)
            if statistics:
                case = self._case(ledger, request_id, escrow)
                references, reused = self.references_for(deployment_id, settings, case.remaining, progress)
                progress("measure", 0, 1)
                evidence = measure(original, after.model, references, case, self.policy.verification, seed,
                                   loader.latent_space_note)
                progress("measure", 1, 1)
                metrics, figures = evidence.metrics, evidence.figures
                checks += judge(evidence, self.policy.verification, exact_with_proof=exact and checks[0].passed)
                reference = ReferenceInfo(base_model=references.base_model, data_digest=references.data_digest,
                                          seed=references.seed, retrain_star_seed=references.retrain_star_seed,
                                          reused=reused)
                subjects += [_descriptor(name, sha)
                             for name, sha in references.save(ledger.workspace.artifacts_dir).items()]
            else:
                replaced = model_replaced(original, after.model, _escrowed_pairs(escrow, "train"))
                metrics = {ORIGINAL: {SCORE_CHANGE: 0.0}, UNLEARNED: {SCORE_CHANGE: replaced.value or 0.0}}
                checks.append(replaced)
            subjects += [_descriptor(f"unlearned/{c.checkpoint_id}", c.artifact_sha256)
                         for _, c in sorted(after.checkpoints.items())]
        report = VerificationReport(
            report_id=f"rep-{uuid.uuid4().hex[:12]}",
            basis="statistics" if statistics else "lineage",
            follows=follows,
            request_id=request_id,
            deployment_id=deployment_id,
            method=method,
            exact=exact,
            created_at=datetime.now(timezone.utc),
            scope=ErasureScope(
                kind=record.kind.value,
                window=record.received.get("window"),
                subjects=len(record.subject_refs),
                interactions=len(erased),
                training_pairs=int((escrow["split"] == "train").sum()),
                held_out_pairs=int((escrow["split"] == "test").sum()),
                deployments=sum(1 for d in unlearned["deployments"] if d["replaced"]),
                checkpoints_replaced=len(swaps),
            ),
            shards_retrained=shards,
            checkpoints_replaced=swaps,
            reference=reference,
            metrics=metrics,
            figures=figures,
            checks=checks,
            passed=evidence_passes(checks, exact),
            ledger_head=ledger.head_hash(),
            policy_digest=self.policy.digest,
            seed=seed,
            data_digest=dataset["digest"],
        )
        statement = ReportStatement(subject=subjects, predicate=report)
        path = save_envelope(
            sign_payload(statement.payload(), REPORT_PAYLOAD_TYPE, ledger.workspace.signer),
            ledger.workspace.reports_dir / request_id / f"{report.report_id}.json",
        )
        return VerificationOutcome(
            report_id=report.report_id,
            report_path=str(path.relative_to(ledger.workspace.root)),
            report_sha256=payload_digest(statement.payload()),
            passed=report.passed,
            failed_checks=[c.name for c in checks if c.verdict == "fail"],
            basis=report.basis,
            follows_report=follows.report_id if follows else None,
        )

    def references_for(
        self, deployment_id: str, settings: MethodSettings, remaining: Interactions, progress: ProgressCallback
    ) -> tuple[ReferenceModels, bool]:
        """The references for this deployment and remaining data: passed in (reused) or trained now."""
        key = (deployment_id, training_set_digest(remaining.interaction_id))
        if key in self.references:
            return self.references[key], True
        rules = self.policy.verification
        trained = ReferenceModels.train(deployment_id, settings.base_model, settings.model_config_object(),
                                        settings.seed, remaining, progress, rules.damaged_fraction,
                                        rules.calibration_retrains)
        return trained, False

    @staticmethod
    def _target(ledger: Ledger, planned: dict[str, Any]) -> dict[str, Any] | None:
        """The deployment whose models are measured: the serving one if the request hit it, else the first hit."""
        entries = planned["deployments"]
        serving = ledger.serving_deployment_id()
        return next((e for e in entries if e["deployment_id"] == serving), entries[0] if entries else None)

    @staticmethod
    def _case(ledger: Ledger, request_id: str, escrow: pd.DataFrame) -> ErasureCase:
        """The request's escrowed pairs against the data left in the store.

        The score attack's non-members are the erased held-out pairs; a narrower request may have erased none
        (it listed training interactions only), and then the forgetting users' remaining held-out pairs serve:
        no model ever trained on them either.
        """
        forgotten = _escrowed_pairs(escrow, "train")
        if forgotten[0].size == 0:
            raise RequestError(f"request {request_id}: no escrowed training pairs to verify against")
        test = Interactions.from_store(ledger, "test")
        held_out = _escrowed_pairs(escrow, "test")
        if held_out[0].size == 0:
            theirs = np.isin(test.user_idx, forgotten[0])
            held_out = test.user_idx[theirs], test.item_idx[theirs]
        return ErasureCase(forgotten, held_out, Interactions.from_store(ledger, "train"), test)

    # -- certification --------------------------------------------------------------------------
    def certify(self, ledger: Ledger, request_id: str) -> CertificateOutcome:
        record = ledger.request(request_id)
        assert record is not None
        received, verified = record.require_payload("received"), record.require_payload("verified")
        workspace = ledger.workspace
        report = load_report(workspace.root / verified["report_path"], workspace.signer.public_key).predicate
        received_at = datetime.fromisoformat(record.received_at)
        completed_at = datetime.now(timezone.utc)
        deadline = self.policy.deadlines.due_date(record)  # with any Art. 12(3) extension
        lineage = next(c for c in report.checks if c.name == LINEAGE)
        proof = ledger.prove_request(request_id)  # signs a fresh checkpoint covering received … verified
        head = SignedCheckpoint.from_note(proof["checkpoint"])
        certificate = Certificate(
            certificate_id=f"cert-{request_id.removeprefix('req-')}",
            request_id=request_id,
            regulation=received["regulation"],
            legal_basis=received["basis"],
            subject_refs=record.subject_refs,
            received_at=received_at,
            completed_at=completed_at,
            deadline=deadline,
            extensions=[DeadlineExtension(months=e["months"], reason=e["reason"]) for e in record.extensions],
            within_deadline=completed_at.date() <= deadline,
            scope=report.scope,
            method=report.method,
            exact=report.exact,
            deployment_id=report.deployment_id,
            shards_retrained=report.shards_retrained,
            checkpoints_replaced=report.checkpoints_replaced,
            lineage_proof=lineage.detail,
            basis=report.basis,
            statistics_due=self.policy.audit.next_run(completed_at).date() if report.basis == "lineage" else None,
            verdicts=[Verdict.from_check(c) for c in report.checks],
            passed=report.passed,
            report_digest=verified["report_sha256"],
            ledger_head=ledger.head_hash(),
            ledger_checkpoint={"tree_size": head.tree_size, "root": head.root.hex(), "note": proof["checkpoint"]},
            inclusion_proof=proof,
            key_fingerprint=workspace.signer.keyid,
            issued_at=completed_at,
        )
        json_path, pdf_path = issue_certificate(certificate, workspace.signer, workspace.certificates_dir)
        return CertificateOutcome(
            certificate_id=certificate.certificate_id,
            json_path=str(Path(json_path).relative_to(workspace.root)),
            pdf_path=str(Path(pdf_path).relative_to(workspace.root)),
            sha256="sha256:" + sha256_hex(Path(json_path).read_bytes()),
        )
