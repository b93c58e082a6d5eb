"""A certificate checked step by step with the standalone verifier (issue 23, point 5), for the console to show.

The steps are ``verify/standalone.py``'s own functions, in its order (its docstring lists them), run one at a time
so that the console can show each one pass or fail instead of a single yes/no; nothing here re-implements a check.
A step after a failed one is "not checked" (it would rest on what just failed). The last step is Lethe's own: the
signed predicate must be a valid certificate. No Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger import Ledger, consistency_proof
from verify.standalone import (
    VerificationError,
    check_older_checkpoint,
    parse_checkpoint,
    parse_vkey,
    verify_certificate_statement,
    verify_statement,
)


@dataclass(frozen=True)
class Step:
    name: str
    outcome: str  # "pass", "fail" or "not checked"
    detail: str


@dataclass(frozen=True)
class CertificateCheck:
    steps: list[Step]
    certificate: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return all(step.outcome in ("pass", "skipped") for step in self.steps)

    @property
    def failed_step(self) -> str | None:
        return next((step.name for step in self.steps if step.outcome == "fail"), None)


STEP_NAMES = (
    "Signature (DSSE envelope, Ed25519 by the ledger's key)",
    "Statement (in-toto v1, names the signed report and the signing key)",
    "Ledger proof (the request's events, each up its Merkle path to a signed checkpoint)",
    "Your checkpoint (the log has not forked since you kept it)",
    "Certificate fields (a valid Lethe certificate)",
)


def check_certificate(data: bytes, vkey_text: str, checkpoint_note: bytes | None = None,
                      ledger: Ledger | None = None) -> CertificateCheck:
    """Run the standalone verifier's checks on ``data`` one by one with the verifier key ``vkey_text``. An older
    ``checkpoint_note`` is checked with a consistency proof computed from ``ledger`` (the workspace's, when the
    certificate is one of its own); the proof is checked against both signed roots, so the ledger cannot lie."""
    steps: list[Step] = []
    results: dict[str, Any] = {}

    def run(index: int, check: Any) -> None:
        if any(step.outcome in ("fail", "not checked") for step in steps):
            steps.append(Step(STEP_NAMES[index], "not checked", "an earlier step failed"))
            return
        try:
            steps.append(Step(STEP_NAMES[index], "pass", check()))
        except VerificationError as exc:
            steps.append(Step(STEP_NAMES[index], "fail", str(exc)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # pydantic's ValidationError is a ValueError
            steps.append(Step(STEP_NAMES[index], "fail", f"malformed: {str(exc).splitlines()[0]}"))

    try:
        vkey = parse_vkey(vkey_text)
    except (VerificationError, ValueError) as exc:
        return CertificateCheck([Step("Verifier key", "fail", str(exc))], None)

    def signature() -> str:
        results["statement"] = verify_statement(data, vkey.key)
        return f"signed by {vkey.name}"

    def statement() -> str:
        predicate = results["statement"]["predicate"]
        return (f"certificate {predicate.get('certificate_id')} for request {predicate.get('request_id')}; report "
                f"sha256 {str(predicate.get('report_digest'))[:16]}…")

    def ledger_proof() -> str:
        # the standalone verifier's whole check (its steps 1-3: it redoes the signature, cheap) over the proof
        predicate = verify_certificate_statement(data, vkey)["predicate"]
        results["head"] = parse_checkpoint(predicate["inclusion_proof"]["checkpoint"])  # verified just now
        kinds = sorted({entry["event"]["kind"].removeprefix("request.")
                        for entry in predicate["inclusion_proof"]["events"]})
        return (f"{len(kinds)} kind(s) of this request's events ({', '.join(kinds)}) proven in ledger tree size "
                f"{results['head'].tree_size}, including its receipt and verification")

    def own_checkpoint() -> str:
        head = results["head"]
        proof = None
        mine = checkpoint_note.decode() if isinstance(checkpoint_note, bytes) else checkpoint_note
        size = int(mine.splitlines()[1]) if mine and len(mine.splitlines()) > 1 and mine.splitlines()[1].isdigit() \
            else 0
        if ledger is not None and 0 < size < head.tree_size:
            proof = consistency_proof(size, ledger.log.leaf_hashes(head.tree_size))
        checked = check_older_checkpoint(checkpoint_note, head, vkey, proof)
        return (f"your checkpoint (size {checked.tree_size}) is "
                + ("the same tree" if checked.tree_size == head.tree_size else "a prefix of the certificate's tree"))

    def fields() -> str:
        from verify import Certificate  # Lethe's model (the standalone file stops at the evidence)

        certificate = Certificate.model_validate(results["statement"]["predicate"])
        return f"{'PASS' if certificate.passed else 'FAIL'} verdict, {certificate.method}, basis {certificate.basis}"

    run(0, signature)
    run(1, statement)
    run(2, ledger_proof)
    if checkpoint_note:
        run(3, own_checkpoint)
    else:
        steps.append(Step(STEP_NAMES[3], "skipped", "no checkpoint note given"))
    run(4, fields)
    certificate = results.get("statement", {}).get("predicate") if "statement" in results else None
    return CertificateCheck(steps, certificate)
