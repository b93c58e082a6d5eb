"""Issue 21, point 4: the `lethe` commands people run to look (help, request list/show, ledger lineage, certificate
verify) start in under a second because they import nothing heavy.

Each command runs as a real process through the installed ``lethe`` script, with Python's import profiler on
(``PYTHONPROFILEIMPORTTIME=1``), against one workspace with one certified request built per module. The test
asserts what the profiler saw imported, not the wall time (the machine's load varies; BENCHMARKS.md §7 has the
timings). Importing pandas (with numpy and pyarrow) alone costs such a command ~0.4 s of its second, torch ~2 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn.requests import ErasureRequest

REPO = Path(__file__).resolve().parents[1]
LETHE = Path(sys.executable).with_name("lethe")

HEAVY = ("torch", "streamlit", "sklearn", "numba", "gensim", "scipy", "pandas", "numpy", "pyarrow")
"""Top-level packages none of these commands may import: the ML stack, the console, and the data-frame stack
(the light commands read the ledger through DuckDB's tuples)."""


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory, trained_workspace_template: Path) -> dict[str, str]:
    """A copy of the session's small trained workspace with one certified whole-subject request."""
    from ui.services import open_services

    root = tmp_path_factory.mktemp("startup") / "ws"
    shutil.copytree(trained_workspace_template, root)
    services = open_services(root)
    subjects = services.ledger.store.subjects_frame()
    erased, kept = str(subjects.iloc[0]["subject"]), str(subjects.iloc[1]["subject"])
    record = services.engine.run(services.engine.file(ErasureRequest(subject=erased)))
    assert record.state == "certified", record.state
    checkpoint = services.ledger.subject_lineage(kept)["placements"][0]["checkpoint"]
    return {"root": str(root), "request_id": record.request_id, "kept": kept, "erased": erased,
            "checkpoint": checkpoint, "certificate": str(root / record.payload("certified")["json_path"]),
            "key": str(root / "keys" / "signing.pub")}


def imported_by(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``lethe ARGS`` as its own process; its result and the top-level packages it imported."""
    done = subprocess.run([str(LETHE), *args], capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
                          env={**os.environ, **(env or {}), "PYTHONPROFILEIMPORTTIME": "1"})
    names = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return done, names


COMMANDS = {
    "help": lambda c: ["--help"],
    "request list": lambda c: ["request", "list", "-w", c["root"]],
    "request list --json": lambda c: ["request", "list", "--json", "-w", c["root"]],
    "request show": lambda c: ["request", "show", c["request_id"], "-w", c["root"]],
    "request show --json": lambda c: ["request", "show", c["request_id"], "--json", "-w", c["root"]],
    "ledger lineage --subject": lambda c: ["ledger", "lineage", "--subject", c["kept"], "-w", c["root"]],
    "ledger lineage --subject (erased)": lambda c: ["ledger", "lineage", "--subject", c["erased"], "-w", c["root"]],
    "ledger lineage --checkpoint": lambda c: ["ledger", "lineage", "--checkpoint", c["checkpoint"], "-w", c["root"]],
    "certificate verify": lambda c: ["certificate", "verify", c["certificate"], "--public-key", c["key"]],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_light_command_succeeds_without_heavy_imports(certified: dict[str, str], command: str) -> None:
    done, names = imported_by(COMMANDS[command](certified))
    assert done.returncode == 0, done.stderr[-2000:]
    assert names, "the import profiler printed nothing: the test would pass vacuously"
    assert "ledger" in names or command == "help", "the command never reached the ledger"
    assert not names & set(HEAVY), f"`lethe {command}` imported {sorted(names & set(HEAVY))}"


def test_the_probe_sees_a_heavy_import(certified: dict[str, str]) -> None:
    """The probe itself: a command that scores the serving model (and so loads torch) is seen importing it."""
    done, names = imported_by(["evaluate", "-w", certified["root"]])
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"torch", "pandas"} <= names, sorted(names)
