"""Canonical JSON: the exact bytes Lethe hashes and signs, as RFC 8785 (JSON Canonicalization Scheme) defines them.

Any language's JCS implementation produces the same bytes from the same JSON value, so an auditor recomputes a
ledger leaf or a signed payload without Lethe's code. JCS, in short (RFC 8785 §3.2):

- no insignificant whitespace; UTF-8; strings escape only ``"``, ``\\`` and U+0000–U+001F (``\\b \\t \\n \\f \\r``
  short, the rest ``\\u00xx`` lowercase); everything else is written as itself;
- numbers as ECMAScript's ``Number.prototype.toString`` writes the IEEE-754 double: ``1.0`` is ``1``, ``1e-7`` is
  ``1e-7``, ``1e21`` is ``1e+21``, ``0.000001`` stays fixed-point; NaN and ±Infinity have no JSON form and are
  refused; integers must lie within ±(2**53 − 1) (I-JSON), the range a double holds exactly — larger ones are
  refused rather than silently rounded;
- object members sorted by their names' UTF-16 code units (not code points: U+FB33 sorts after U+1F600).

The serialiser is the ``rfc8785`` package (Trail of Bits; pure Python, no dependencies); the tests check it on
RFC 8785's own examples. Python values map to JSON the way :func:`json.dumps` maps them (tuples are arrays); object
names must already be strings — a dict with int keys would have two JSON spellings and is refused.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


class CanonicalJsonError(ValueError):
    """A value with no RFC 8785 form: NaN or infinity, an integer outside ±(2**53 − 1), a non-string object name,
    a lone surrogate, or a type JSON does not have."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) bytes of ``value``; :class:`CanonicalJsonError` (a ValueError) if it has none."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:  # rfc8785 0.1.4 lets a lone surrogate *name*
        raise CanonicalJsonError(f"no RFC 8785 canonical JSON form: {exc}") from None  # through as UnicodeError


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
