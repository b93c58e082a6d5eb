"""Chaos in the suite (issue 20, point 6): real `lethe request run` processes over shared shards, a share of them
SIGKILLed at random moments and restarted, until every request is done; then no invariant may have broken — no
erased id served after its request recorded `unlearned`, every forget started from the checkpoint serving then,
every request certified, `lethe ledger verify` and `lethe audit run` pass, and no workspace file holds an erased
subject's bytes. Small on purpose (3 subjects on 2 shards, so two share one; verification deferred to the final
audit): about 40 s on 2 idle cores, each run's imports being most of it. The longer run is `bench/chaos.py`."""

from __future__ import annotations

from pathlib import Path

from bench.chaos import build_workspace, run_chaos


def test_killed_and_restarted_concurrent_runs_break_no_invariant(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    request_ids = build_workspace(root, subjects=3, shards=2, seed=3, defer=True)
    result = run_chaos(root, request_ids, workers=2, kill_share=0.4, budget=240, seed=3, defer=True)
    assert result.violations == []
    assert result.states == {"certified": 3}
    assert result.kills > 0 and result.runs > result.kills  # there was chaos, and runs outlived it
