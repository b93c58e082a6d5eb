"""The request verifier the engine calls: evidence against a retrained reference, then the certificate.

Verification of one request, in order:
1. lineage proof of every deployment the request touched (exact methods; ledger only);
2. load the serving deployment as it was before the request (replaced checkpoints still exist) and after;
3. retrain a reference on the remaining training data with the deployment's base model, config and seed;
4. measure: re-predict score on the forgotten training pairs, RBO@k of the forgetting user's top-k lists
   against the reference (original vs unlearned), Recall/NDCG@10/20 on a seeded sample of other users;
5. judge each measurement by the policy's thresholds, sign the report (fails closed: no check, no pass).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ledger import Ledger, RequestError, sha256_hex
from policies import Policy
from unlearn.engine import CertificateOutcome, VerificationOutcome
from unlearn.methods import MethodSettings, get_method
from unlearn.models import Recommender, base_model
from unlearn.progress import ProgressCallback
from unlearn.training_data import Interactions
from verify._certificate import Certificate, Verdict, gdpr_deadline, issue_certificate
from verify._lineage import prove_lineage
from verify._metrics import ranking_metrics, repredict_score, topk_rbo
from verify._report import (
    CheckpointSwap,
    MetricCheck,
    VerificationReport,
    report_digest,
    save_envelope,
    sign_model,
    verify_envelope,
)


class StatisticalVerifier:
    """Implements the engine's ``RequestVerifier`` with the thresholds of one policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    # -- verification ---------------------------------------------------------------------------
    def verify(self, ledger: Ledger, request_id: str, progress: ProgressCallback) -> VerificationOutcome:
        record = ledger.request(request_id)
        assert record is not None
        planned, unlearned = record.require_payload("planned"), record.require_payload("unlearned")
        erased = set(planned["interaction_ids"])
        proofs = [prove_lineage(ledger, d["deployment_id"], erased) for d in ledger.deployments()]
        checks = [
            MetricCheck(
                name="lineage", value=None, threshold=None, comparison="no erased id in any serving checkpoint",
                passed=all(p.ok for p in proofs), detail="; ".join(p.summary for p in proofs) or "no deployment",
            )
        ]
        swaps = [CheckpointSwap(old=r["old"], new=r["new"]) for d in unlearned["deployments"] for r in d["replaced"]]
        entry = self._target(ledger, planned)
        metrics: dict[str, dict[str, float]] = {}
        dataset = ledger.require_dataset()
        if entry is None:
            deployment_id, method, exact, shards, seed = "none", "none", True, [], 0
        else:
            deployment = ledger.deployment(entry["deployment_id"])
            settings = MethodSettings(**deployment["settings"])
            deployment_id, method, exact = entry["deployment_id"], entry["method"], entry["exact"]
            shards, seed = [s["shard"] for s in entry["shards"]], settings.seed
            models = self._models(ledger, entry, settings, progress)
            metrics, statistical = self._measure(ledger, request_id, models, seed)
            checks += statistical
        report = VerificationReport(
            report_id=f"rep-{uuid.uuid4().hex[:12]}",
            request_id=request_id,
            deployment_id=deployment_id,
            method=method,
            exact=exact,
            created_at=datetime.now(timezone.utc),
            subjects_count=1,
            forgotten_interactions=len(erased),
            shards_retrained=shards,
            checkpoints_replaced=swaps,
            metrics=metrics,
            checks=checks,
            passed=all(c.passed for c in checks),
            ledger_head=ledger.head_hash(),
            policy_digest=self.policy.digest,
            seed=seed,
            data_digest=dataset["digest"],
        )
        path = save_envelope(
            sign_model(report, ledger.workspace.signer),
            ledger.workspace.reports_dir / request_id / f"{report.report_id}.json",
        )
        return VerificationOutcome(
            report_id=report.report_id,
            report_path=str(path.relative_to(ledger.workspace.root)),
            report_sha256=report_digest(report),
            passed=report.passed,
            failed_checks=[c.name for c in checks if not c.passed],
        )

    @staticmethod
    def _target(ledger: Ledger, planned: dict[str, Any]) -> dict[str, Any] | None:
        """The deployment whose models are measured: the serving one if the request hit it, else the first hit."""
        entries = planned["deployments"]
        serving = ledger.serving_deployment_id()
        return next((e for e in entries if e["deployment_id"] == serving), entries[0] if entries else None)

    @staticmethod
    def _models(
        ledger: Ledger, entry: dict[str, Any], settings: MethodSettings, progress: ProgressCallback
    ) -> dict[str, Recommender]:
        method = get_method(entry["method"])
        before = {int(shard): cid for shard, cid in entry["live_before"].items()}
        remaining = Interactions.from_store(ledger, "train")
        progress("train reference", 0, 1)
        reference = base_model(settings.base_model).train(
            remaining.user_idx, remaining.item_idx, remaining.n_users, remaining.n_items,
            settings.model_config_object(), settings.seed,
        )
        progress("train reference", 1, 1)
        return {
            "original": method.load(ledger, entry["deployment_id"], before).model,
            "unlearned": method.load(ledger, entry["deployment_id"]).model,
            "reference": reference,
        }

    def _measure(
        self, ledger: Ledger, request_id: str, models: dict[str, Recommender], seed: int
    ) -> tuple[dict[str, dict[str, float]], list[MetricCheck]]:
        rules = self.policy.verification
        escrow = ledger.store.escrowed(request_id)
        forgotten = escrow[escrow["split"] == "train"]
        if forgotten.empty:
            raise RequestError(f"request {request_id}: no escrowed training pairs to verify against")
        users, items = forgotten["user_idx"].to_numpy(np.int64), forgotten["item_idx"].to_numpy(np.int64)
        forgetting_users = np.unique(users)
        metrics: dict[str, dict[str, float]] = {name: {} for name in models}
        for name, model in models.items():
            metrics[name]["re-predict"] = repredict_score(model, users, items)

        depth = max(rules.rbo_depths)
        top = {name: model.recommend(forgetting_users, depth) for name, model in models.items()}
        for k in rules.rbo_depths:
            for name in ("original", "unlearned"):
                rbo = topk_rbo(top[name][:, :k], top["reference"][:, :k], p=rules.rbo_persistence)
                metrics[name][f"rbo@{k} vs reference"] = float(rbo.mean())

        train, test = Interactions.from_store(ledger, "train"), Interactions.from_store(ledger, "test")
        candidates = np.unique(test.user_idx)
        rng = np.random.default_rng(seed)
        sample = rng.choice(candidates, size=min(rules.sample_other_users, len(candidates)), replace=False)
        for name, model in models.items():
            for key, value in ranking_metrics(model, train.csr(), test.csr(), (10, 20), users=sample).items():
                metrics[name][key] = value

        checks = []
        excess = metrics["unlearned"]["re-predict"] - metrics["reference"]["re-predict"]
        checks.append(MetricCheck(
            name="re-predict", value=metrics["unlearned"]["re-predict"],
            threshold=metrics["reference"]["re-predict"] + rules.max_repredict_excess, comparison="≤",
            passed=excess <= rules.max_repredict_excess,
            detail=(f"mean sigmoid score on the {len(users)} forgotten training pairs: original "
                    f"{metrics['original']['re-predict']:.4f}, unlearned {metrics['unlearned']['re-predict']:.4f}, "
                    f"reference {metrics['reference']['re-predict']:.4f}"),
        ))
        for k in rules.rbo_depths:
            gain = metrics["unlearned"][f"rbo@{k} vs reference"] - metrics["original"][f"rbo@{k} vs reference"]
            checks.append(MetricCheck(
                name=f"rbo@{k} gain", value=gain, threshold=rules.min_rbo_gain, comparison="≥",
                passed=gain >= rules.min_rbo_gain,
                detail=(f"extrapolated RBO (p={rules.rbo_persistence}) of the forgetting user's top-{k} with the "
                        f"reference: original {metrics['original'][f'rbo@{k} vs reference']:.3f}, unlearned "
                        f"{metrics['unlearned'][f'rbo@{k} vs reference']:.3f}"),
            ))
        drop = metrics["original"]["recall@20"] - metrics["unlearned"]["recall@20"]
        checks.append(MetricCheck(
            name="recall@20 drop", value=drop, threshold=rules.max_recall_drop, comparison="≤",
            passed=drop <= rules.max_recall_drop,
            detail=(f"Recall@20 on {len(sample)} other users: original {metrics['original']['recall@20']:.4f}, "
                    f"unlearned {metrics['unlearned']['recall@20']:.4f}, reference "
                    f"{metrics['reference']['recall@20']:.4f}"),
        ))
        return metrics, checks

    # -- certification --------------------------------------------------------------------------
    def certify(self, ledger: Ledger, request_id: str) -> CertificateOutcome:
        record = ledger.request(request_id)
        assert record is not None
        received, verified, unlearned = (record.require_payload(s) for s in ("received", "verified", "unlearned"))
        workspace = ledger.workspace
        payload = verify_envelope(workspace.root / verified["report_path"], workspace.signer.public_key)
        report = VerificationReport.model_validate(payload)
        received_at = datetime.fromisoformat(received["received_at"])
        completed_at = datetime.now(timezone.utc)
        deadline = gdpr_deadline(received_at.date(), self.policy.deadlines.response_months)
        lineage = next(c for c in report.checks if c.name == "lineage")
        certificate = Certificate(
            certificate_id=f"cert-{request_id.removeprefix('req-')}",
            request_id=request_id,
            regulation=received["regulation"],
            legal_basis=received["basis"],
            subject_ref=received["subject_ref"],
            received_at=received_at,
            completed_at=completed_at,
            deadline=deadline,
            within_deadline=completed_at.date() <= deadline,
            method=report.method,
            exact=report.exact,
            deployment_id=report.deployment_id,
            shards_retrained=report.shards_retrained,
            checkpoints_replaced=[
                CheckpointSwap(old=r["old"], new=r["new"]) for d in unlearned["deployments"] for r in d["replaced"]
            ],
            lineage_proof=lineage.detail,
            verdicts=[Verdict.from_check(c) for c in report.checks],
            passed=report.passed,
            report_digest=verified["report_sha256"],
            ledger_head=ledger.head_hash(),
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
