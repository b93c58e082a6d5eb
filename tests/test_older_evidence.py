"""Evidence signed before a schema grew keeps verifying: a certificate of schema 3 (no basis, organisation or
officer) and a report of schema 4 (no basis, nothing it follows), re-read by today's code, give back the bytes that
were signed and the digest the ledger recorded."""

from __future__ import annotations

from pathlib import Path

from ledger import Signer
from tests.test_signing_and_certificates import make_certificate, make_report, signer  # noqa: F401 - a fixture
from verify import (
    CERTIFICATE_PAYLOAD_TYPE,
    REPORT_PAYLOAD_TYPE,
    ReportStatement,
    load_report,
    payload_digest,
    save_envelope,
    sign_payload,
    verify_certificate_file,
)
from verify._certificate import certificate_statement

ADDED_TO_CERTIFICATES = ("basis", "statistics_due", "basis_notice", "controller", "officer")
ADDED_TO_REPORTS = ("basis", "follows")


def test_a_certificate_signed_before_basis_and_organisation_still_verifies(signer: Signer, tmp_path: Path) -> None:
    statement = certificate_statement(make_certificate(signer))
    older = {key: value for key, value in statement["predicate"].items() if key not in ADDED_TO_CERTIFICATES}
    older["schema_version"] = 3
    path = save_envelope(sign_payload({**statement, "predicate": older}, CERTIFICATE_PAYLOAD_TYPE, signer),
                         tmp_path / "cert-old.json")
    certificate = verify_certificate_file(path, signer.public_key)
    assert certificate.schema_version == 3 and certificate.basis is None
    assert certificate_statement(certificate)["predicate"] == older


def test_a_report_signed_before_basis_keeps_the_digest_the_ledger_recorded(signer: Signer, tmp_path: Path) -> None:
    payload = ReportStatement(subject=[{"name": "ledger-head", "digest": {"sha256": "0" * 64}}],
                              predicate=make_report()).payload()
    older = {key: value for key, value in payload["predicate"].items() if key not in ADDED_TO_REPORTS}
    older["schema_version"] = 4
    older_payload = {**payload, "predicate": older}
    recorded = payload_digest(older_payload)  # what the ledger's request.verified holds
    path = save_envelope(sign_payload(older_payload, REPORT_PAYLOAD_TYPE, signer), tmp_path / "rep-old.json")
    statement = load_report(path, signer.public_key)
    assert statement.predicate.basis is None
    assert payload_digest(statement.payload()) == recorded
