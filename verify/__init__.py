"""Verification of erasure: metrics against a retrained reference, signed reports, GDPR certificates."""

from verify._certificate import (
    APPROXIMATE_NOTICE,
    Certificate,
    Verdict,
    gdpr_deadline,
    issue_certificate,
    render_certificate_pdf,
    verify_certificate_file,
)
from verify._metrics import ranking_metrics, repredict_score, topk_rbo
from verify._report import (
    CheckpointSwap,
    MetricCheck,
    Signature,
    SignedEnvelope,
    VerificationReport,
    load_envelope,
    report_digest,
    save_envelope,
    sign_model,
    verify_envelope,
)

__all__ = [
    "APPROXIMATE_NOTICE",
    "Certificate",
    "CheckpointSwap",
    "MetricCheck",
    "Signature",
    "SignedEnvelope",
    "Verdict",
    "VerificationReport",
    "gdpr_deadline",
    "issue_certificate",
    "load_envelope",
    "ranking_metrics",
    "render_certificate_pdf",
    "report_digest",
    "repredict_score",
    "save_envelope",
    "sign_model",
    "topk_rbo",
    "verify_certificate_file",
    "verify_envelope",
]
