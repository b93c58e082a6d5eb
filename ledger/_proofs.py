"""Inclusion proofs of ledger events, bundled with the signed checkpoint they lead to.

A bundle is plain JSON (it travels inside certificates): the checkpoint note (a C2SP signed note), and for each
event its full record (so the reader sees *what* is proven) with its leaf index and audit path. Checking one
needs only the public key: the note's signature, then each event's leaf hash — SHA-256 over 0x00 and the event's
RFC 8785 canonical JSON (see ``ledger._merkle``) — up its path to the note's root. That check is
``verify.standalone.verify_bundle``'s: the log makes bundles, the one verifier reads them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ledger._checkpoints import SignedCheckpoint
from verify.standalone import BUNDLE_TYPE


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


def bundle_json(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False)
