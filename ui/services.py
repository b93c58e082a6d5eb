"""The services the CLI, the console, the benches and the tests share: one place that opens a workspace and builds
its ledger, policy, engine and verifier (public: import ``ui.services``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger import Ledger
from policies import Policy, active_policy_path, load_policy
from unlearn.engine import ErasureEngine
from unlearn.registry import methods
from verify import StatisticalVerifier


@dataclass(frozen=True)
class Services:
    ledger: Ledger
    policy: Policy
    engine: ErasureEngine


def open_services(workspace: str | Path | None = None, policy_path: str | Path | None = None) -> Services:
    """Open (creating if needed) a workspace with the given policy (else the workspace's activated one, else the
    shipped default)."""
    ledger = Ledger.open(workspace)
    policy = load_policy(policy_path or active_policy_path(ledger.workspace.root))
    policy.routing.require_registered(methods())  # a policy meets the registry here: a misspelt method fails now
    return Services(ledger, policy, ErasureEngine(ledger, policy, StatisticalVerifier(policy)))
