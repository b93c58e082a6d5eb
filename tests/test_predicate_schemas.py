"""The published JSON Schemas of the report and certificate predicates (issue 18): current, and they hold for a real
certificate, so an outside verifier can validate what it reads without Lethe's code."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ui.services import Services
from unlearn.requests import ErasureRequest
from verify._report import CERTIFICATE_PREDICATE_TYPE, REPORT_PREDICATE_TYPE
from verify._schemas import PREDICATES, predicate_schema, schema_path


def _statement(path: Path) -> dict[str, Any]:
    envelope = json.loads(path.read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


@pytest.fixture(scope="module")
def statements(tmp_path_factory: pytest.TempPathFactory, trained_workspace_template: Path) -> dict[str, dict[str, Any]]:
    import shutil

    from ui.services import open_services

    root = tmp_path_factory.mktemp("schemas") / "ws"
    shutil.copytree(trained_workspace_template, root)
    services: Services = open_services(root)
    subject = str(services.ledger.store.subjects_frame().iloc[3]["subject"])
    record = services.engine.run(services.engine.file(ErasureRequest(subject=subject)))
    assert record.state == "certified"
    return {REPORT_PREDICATE_TYPE: _statement(root / record.require_payload("verified")["report_path"]),
            CERTIFICATE_PREDICATE_TYPE: _statement(root / record.require_payload("certified")["json_path"])}


@pytest.mark.parametrize("predicate_type", sorted(PREDICATES))
def test_the_committed_schema_is_what_the_model_says(predicate_type: str) -> None:
    committed = json.loads(schema_path(predicate_type).read_text())
    assert committed == predicate_schema(predicate_type), "regenerate with: python -m verify._schemas"
    Draft202012Validator.check_schema(committed)


@pytest.mark.parametrize("predicate_type", sorted(PREDICATES))
def test_a_real_predicate_validates_and_its_type_names_the_schema(statements: dict, predicate_type: str) -> None:
    statement = statements[predicate_type]
    assert statement["_type"] == "https://in-toto.io/Statement/v1" and statement["predicateType"] == predicate_type
    Draft202012Validator(json.loads(schema_path(predicate_type).read_text())).validate(statement["predicate"])


@pytest.mark.parametrize("predicate_type", sorted(PREDICATES))
@pytest.mark.parametrize("change", ["drop a required field", "add an unknown field", "a verdict outside the three"])
def test_a_malformed_predicate_fails_the_schema(statements: dict, predicate_type: str, change: str) -> None:
    predicate = copy.deepcopy(statements[predicate_type]["predicate"])
    checks = predicate.get("checks") or predicate.get("verdicts")
    if change == "drop a required field":
        del predicate["passed"]
    elif change == "add an unknown field":
        predicate["comment"] = "not in the schema"
    else:
        checks[0]["verdict"] = "probably"
    validator = Draft202012Validator(json.loads(schema_path(predicate_type).read_text()))
    assert list(validator.iter_errors(predicate)), f"{change} passed the schema"
