"""The published JSON Schemas of Lethe's two in-toto predicates, so a verifier in any language can validate them.

``verify/schemas/<name>.schema.json`` is generated from the pydantic models that build and check the predicates
(:class:`~verify._report.VerificationReport`, :class:`~verify._certificate.Certificate`), and a test keeps the
committed files equal to what the models say. Regenerate after changing a model with
``python -m verify._schemas``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from verify._certificate import Certificate
from verify._report import CERTIFICATE_PREDICATE_TYPE, REPORT_PREDICATE_TYPE, VerificationReport

SCHEMA_DIR = Path(__file__).parent / "schemas"
PREDICATES = {REPORT_PREDICATE_TYPE: VerificationReport, CERTIFICATE_PREDICATE_TYPE: Certificate}


def schema_path(predicate_type: str) -> Path:
    """``https://lethe.dev/attestations/erasure-certificate/v1`` → ``schemas/erasure-certificate-v1.schema.json``."""
    name, version = predicate_type.rstrip("/").split("/")[-2:]
    return SCHEMA_DIR / f"{name}-{version}.schema.json"


def predicate_schema(predicate_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one predicate, as serialised (what the signed statement holds)."""
    schema = PREDICATES[predicate_type].model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": predicate_type, **schema}


def write_schemas() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for predicate_type in PREDICATES:
        path = schema_path(predicate_type)
        path.write_text(json.dumps(predicate_schema(predicate_type), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_schemas():
        print(written)
