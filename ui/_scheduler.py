"""``lethe audit schedule``: a long-running process that runs the audit on the policy's cron (APScheduler 3).

One job, one audit at a time (``max_instances=1``; runs missed while the machine slept are coalesced into one).
Each run re-reads the workspace's policy in force, so an activated policy applies from the next run, and a
changed cron reschedules the job. An audit that fails, or raises, is reported and the schedule goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ledger import LetheError
from ui.services import open_services
from verify import AuditReport, run_audit

JOB_ID = "lethe-audit"


def audit_trigger(cron: str) -> CronTrigger:
    """The policy's crontab line, evaluated in UTC like every time Lethe records."""
    return CronTrigger.from_crontab(cron, timezone="UTC")


def build_scheduler(
    workspace: Path | None, policy_path: Path | None, role: str, report: Callable[[str], None],
) -> BlockingScheduler:
    """A blocking scheduler with the audit job on the policy's cron; ``report`` receives one line per event."""
    services = open_services(workspace, policy_path)
    services.policy.require_role("run_audit", role)  # refuse at start, not at 03:00
    scheduler = BlockingScheduler(timezone="UTC")

    def job() -> None:
        current = open_services(workspace, policy_path)
        try:
            result: AuditReport = run_audit(current.ledger, current.policy, role=role, actor="scheduler")
            verdict = "passed" if result.passed else "FAILED: " + ", ".join(result.failed_checks)
            report(f"{result.audit_id}: {verdict}")
        except LetheError as exc:
            report(f"audit could not run: {exc}")
        trigger = audit_trigger(current.policy.audit.cron)
        if str(trigger) != str(scheduler.get_job(JOB_ID).trigger):
            scheduler.reschedule_job(JOB_ID, trigger=trigger)
            report(f"policy cron changed to {current.policy.audit.cron!r}")

    scheduler.add_job(job, audit_trigger(services.policy.audit.cron), id=JOB_ID, max_instances=1, coalesce=True,
                      misfire_grace_time=3600)
    return scheduler
