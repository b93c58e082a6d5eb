"""Verification of erasure: metrics against retrained references, signed reports, GDPR certificates."""

from verify._certificate import (
    APPROXIMATE_NOTICE,
    Certificate,
    Verdict,
    gdpr_deadline,
    issue_certificate,
    render_certificate_pdf,
    verify_certificate_file,
)
from verify._evidence import ErasureCase, Evidence, judge, measure
from verify._latent import LatentComparison, compare_latent, linear_cka
from verify._metrics import ranking_metrics, repredict_score, topk_rbo
from verify._mia import AttackROC, RecommenderAttack, attack_roc, auc_tolerance, score_attack
from verify._reference import ReferenceModels, derive_seed
from verify._report import (
    CERTIFICATE_PAYLOAD_TYPE,
    REPORT_PAYLOAD_TYPE,
    CheckpointSwap,
    ErasureScope,
    MetricCheck,
    ReportStatement,
    Signature,
    SignedEnvelope,
    VerificationReport,
    load_envelope,
    load_report,
    pae,
    payload_digest,
    save_envelope,
    sign_payload,
    verify_envelope,
)
from verify._verifier import StatisticalVerifier

__all__ = [
    "APPROXIMATE_NOTICE",
    "CERTIFICATE_PAYLOAD_TYPE",
    "REPORT_PAYLOAD_TYPE",
    "AttackROC",
    "Certificate",
    "CheckpointSwap",
    "ErasureCase",
    "ErasureScope",
    "Evidence",
    "LatentComparison",
    "MetricCheck",
    "RecommenderAttack",
    "ReferenceModels",
    "ReportStatement",
    "Signature",
    "SignedEnvelope",
    "StatisticalVerifier",
    "Verdict",
    "VerificationReport",
    "attack_roc",
    "auc_tolerance",
    "compare_latent",
    "derive_seed",
    "gdpr_deadline",
    "issue_certificate",
    "judge",
    "linear_cka",
    "load_envelope",
    "load_report",
    "measure",
    "pae",
    "payload_digest",
    "ranking_metrics",
    "render_certificate_pdf",
    "repredict_score",
    "save_envelope",
    "score_attack",
    "sign_payload",
    "topk_rbo",
    "verify_certificate_file",
    "verify_envelope",
]
