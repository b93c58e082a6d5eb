"""Several processes (console, CLI, audit) writing one workspace at once: no corruption, no deadlock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from ledger import Ledger

WRITER = """
import sys
from ledger import Ledger
ledger = Ledger.open(sys.argv[1])
for i in range(int(sys.argv[3])):
    ledger.append("audit.note", {"writer": sys.argv[2], "i": i}, actor=sys.argv[2])
    ledger.store.subjects_frame()  # a read between writes, as the console does
"""


def test_two_processes_appending_at_once_keep_one_valid_chain(tmp_path: Path) -> None:
    Ledger.open(tmp_path)  # create the files
    script = textwrap.dedent(WRITER)
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name, "40"], cwd=Path(__file__).parents[1])
        for name in ("console", "cron")
    ]
    assert [w.wait(timeout=180) for w in writers] == [0, 0]
    ledger = Ledger.open(tmp_path)
    events = ledger.log.events(["audit.note"])
    assert len(events) == 80
    for name in ("console", "cron"):
        assert [e.payload["i"] for e in events if e.actor == name] == list(range(40))
    assert ledger.verify().ok
