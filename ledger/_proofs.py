"""Inclusion proofs of ledger events, bundled with the signed checkpoint they lead to.

A bundle is plain JSON (it travels inside certificates): the checkpoint note (a C2SP signed note), and for each
event its full record (so the reader sees *what* is proven) with its leaf index and audit path. Checking one
needs only the public key: the note's signature, then each event's leaf hash — SHA-256 over 0x00 and the event's
RFC 8785 canonical JSON (see ``ledger._merkle``) — up its path to the note's root.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger._canonical import canonical_json
from ledger._checkpoints import SignedCheckpoint
from ledger._events import GENESIS_HASH, event_hash
from ledger._merkle import ProofError, leaf_hash, verify_inclusion
from ledger._signing import strict_b64decode
from ledger.errors import LedgerIntegrityError

BUNDLE_TYPE = "lethe.inclusion-proof/v1"


def make_bundle(checkpoint: SignedCheckpoint, proofs: list[tuple[dict[str, Any], int, list[bytes]]]) -> dict[str, Any]:
    """``proofs`` holds (event record, leaf index, audit path) triples."""
    return {
        "type": BUNDLE_TYPE,
        "checkpoint": checkpoint.to_note(),
        "events": [
            {"index": index, "event": event, "audit_path": [base64.b64encode(node).decode() for node in path]}
            for event, index, path in proofs
        ],
    }


def verify_bundle(bundle: dict[str, Any], public_key: Ed25519PublicKey) -> SignedCheckpoint:
    """Check a bundle offline; returns its checkpoint. Raises LedgerIntegrityError/SignatureError on any fault."""
    if not isinstance(bundle, dict) or bundle.get("type") != BUNDLE_TYPE:
        raise LedgerIntegrityError("not a Lethe inclusion-proof bundle")
    checkpoint = SignedCheckpoint.from_note(bundle.get("checkpoint", ""), "the bundle's checkpoint")
    checkpoint.verify(public_key)
    if not bundle.get("events"):
        raise LedgerIntegrityError("the bundle proves no event")
    for entry in bundle["events"]:
        try:
            event = entry["event"]
            payload_bytes = canonical_json(event["payload"])
            if event["hash"] != event_hash(event["prev_hash"], event["seq"], event["ts"], event["kind"],
                                           event["actor"], payload_bytes):
                if event["hash"] == event_hash(event["prev_hash"], event["seq"], event["ts"], event["kind"],
                                               event["actor"], _format_1_json(event["payload"])):
                    raise LedgerIntegrityError(
                        f"event {event['seq']} was written in Lethe's ledger format 1 (Python's JSON, before RFC 8785 "
                        "canonical JSON); this version proves only events whose bytes any JCS implementation "
                        "recomputes, so it cannot be checked here")
                raise LedgerIntegrityError(f"event {event['seq']}: its hash does not match its content")
            if event["seq"] == 1 and event["prev_hash"] != GENESIS_HASH:
                raise LedgerIntegrityError("event 1 does not start from the genesis hash")
            path = [strict_b64decode(node, "an audit path node") for node in entry["audit_path"]]
            verify_inclusion(entry["index"], checkpoint.tree_size, leaf_hash(canonical_json(event)), path, checkpoint.root)
        except ProofError as exc:
            raise LedgerIntegrityError(f"event {entry.get('event', {}).get('seq')}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LedgerIntegrityError):
                raise
            raise LedgerIntegrityError(f"malformed inclusion proof entry: {exc}") from None
    return checkpoint


def _format_1_json(value: Any) -> bytes:
    """How Lethe serialised payloads before RFC 8785 (sorted keys, compact, Python's float repr): only to name an
    old event's format in an error, never to accept it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def bundle_json(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False)
