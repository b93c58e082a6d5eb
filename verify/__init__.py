"""Verification of erasure: metrics against retrained references, signed reports, GDPR certificates.

The names of the models compared, the metrics measured and the checks judged are one vocabulary, the public module
:mod:`verify.names` (light: the console imports it without loading the verifier).
"""

import importlib

# Every name is imported on first use (PEP 562): the verifier's models need torch, numba or scikit-learn, and
# the ledger imports verify.standalone (the one implementation of the evidence checks), which must not pull the
# rest of this package, nor the ledger back in a circle.
_LAZY = {
    **dict.fromkeys(("APPROXIMATE_NOTICE", "Certificate", "DeadlineExtension", "Verdict", "gdpr_deadline",
                     "verify_certificate_file"),
                    "verify._certificate"),
    **dict.fromkeys(("issue_certificate", "render_certificate_pdf", "responsible_officer"), "verify._certificate_pdf"),
    **dict.fromkeys(("ORGANISATION_FILE", "Organisation", "OrganisationError", "load_organisation",
                     "save_organisation"), "verify._organisation"),
    **dict.fromkeys(("CERTIFICATE_PAYLOAD_TYPE", "CERTIFICATE_PREDICATE_TYPE", "REPORT_PAYLOAD_TYPE",
                     "REPORT_PREDICATE_TYPE", "STATEMENT_PAYLOAD_TYPE", "CheckpointSwap", "ErasureScope",
                     "MetricCheck", "ReportStatement", "Signature", "SignedEnvelope", "VerificationReport",
                     "load_envelope", "load_report", "pae", "payload_digest", "save_envelope", "sign_bytes",
                     "sign_payload", "verify_dsse", "verify_envelope", "verify_statement"),
                    "verify._report"),
    **dict.fromkeys(("AUDIT_COMPLETED", "AuditCheck", "AuditReport", "AuditStatement", "DeadlineStatus",
                     "WindowRequest", "audit_report_path", "load_audit_report", "run_audit"),
                    "verify._audit"),
    **dict.fromkeys(("ErasureCase", "Evidence", "judge", "measure"), "verify._evidence"),
    **dict.fromkeys(("LatentComparison", "compare_latent", "linear_cka"), "verify._latent"),
    **dict.fromkeys(("evaluate_serving", "ranking_metrics", "repredict_score", "topk_rbo"), "verify._metrics"),
    **dict.fromkeys(("AttackROC", "RecommenderAttack", "attack_roc", "auc_tolerance", "score_attack"), "verify._mia"),
    **dict.fromkeys(("ReferenceModels", "derive_seed"), "verify._reference"),
    "StatisticalVerifier": "verify._verifier",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'verify' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AUDIT_COMPLETED",
    "AuditCheck",
    "AuditReport",
    "AuditStatement",
    "DeadlineStatus",
    "WindowRequest",
    "audit_report_path",
    "load_audit_report",
    "run_audit",
    "APPROXIMATE_NOTICE",
    "CERTIFICATE_PAYLOAD_TYPE",
    "CERTIFICATE_PREDICATE_TYPE",
    "REPORT_PAYLOAD_TYPE",
    "REPORT_PREDICATE_TYPE",
    "STATEMENT_PAYLOAD_TYPE",
    "AttackROC",
    "Certificate",
    "CheckpointSwap",
    "DeadlineExtension",
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
    "evaluate_serving",
    "ranking_metrics",
    "render_certificate_pdf",
    "responsible_officer",
    "ORGANISATION_FILE",
    "Organisation",
    "OrganisationError",
    "load_organisation",
    "save_organisation",
    "repredict_score",
    "save_envelope",
    "score_attack",
    "sign_payload",
    "topk_rbo",
    "verify_certificate_file",
    "verify_envelope",
    "sign_bytes",
    "verify_dsse",
    "verify_statement",
]
