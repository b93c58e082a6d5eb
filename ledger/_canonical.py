"""Canonical JSON: the exact bytes we hash and sign.

Keys sorted, no insignificant whitespace, UTF-8, no NaN/Infinity (they have no JSON form and would make
two readers disagree). Floats keep Python's shortest round-trip repr, so parse → serialise is stable.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to canonical JSON bytes (sorted keys, compact separators, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
