"""The policy in force, and its history in the ledger.

A workspace's active policy is ``<workspace>/policy.yaml`` (written by ``lethe policy activate``), else the shipped
default. Whatever policy a command runs with, the first write it makes under that policy compares its digest with
the last ``policy.activated`` event and, when they differ, records the full document first: the ledger then says
which thresholds, deadlines and roles were in force for every event that follows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ledger import Event, Ledger
from policies._policy import Policy, load_policy

POLICY_ACTIVATED = "policy.activated"
ACTIVE_POLICY_FILE = "policy.yaml"


def active_policy_path(workspace_root: Path) -> Path | None:
    """The workspace's activated policy file, or ``None`` when the shipped default is in force."""
    path = Path(workspace_root) / ACTIVE_POLICY_FILE
    return path if path.exists() else None


def recorded_policy(ledger: Ledger) -> dict[str, Any] | None:
    """The payload of the latest ``policy.activated`` event (``None`` before any was recorded)."""
    events = ledger.log.events([POLICY_ACTIVATED])
    return events[-1].payload if events else None


def record_policy(ledger: Ledger, policy: Policy, actor: str = "system", **facts: Any) -> Event | None:
    """Append ``policy.activated`` if ``policy`` is not the one the ledger last recorded; idempotent."""
    last = recorded_policy(ledger)
    if last is not None and last["digest"] == policy.digest:
        return None
    payload = {
        "name": policy.name,
        "version": policy.version,
        "digest": policy.digest,
        "previous_digest": last["digest"] if last else None,
        "document": policy.document(),
        **facts,
    }
    return ledger.append(POLICY_ACTIVATED, payload, actor=actor)


def activate_policy(ledger: Ledger, path: str | Path, role: str, actor: str = "system") -> Policy:
    """Make the policy file at ``path`` the workspace's policy in force and record it.

    The role is checked against the policy in force *before* the change (a new policy cannot grant its own
    approval). The file is validated first, copied atomically, then recorded.
    """
    current_path = active_policy_path(ledger.workspace.root)
    load_policy(current_path).require_role("activate_policy", role)
    policy = load_policy(path)
    target = ledger.workspace.root / ACTIVE_POLICY_FILE
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(Path(path).read_text(encoding="utf-8"), encoding="utf-8")
    os.replace(tmp, target)
    record_policy(ledger, policy, actor=actor, approved_by_role=role, source=str(Path(path).resolve()))
    return policy
