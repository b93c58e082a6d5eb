"""``lethe demo``: the whole path on the embedded synthetic data, with a summary table at the end.

ingest → train SISA (BPR-MF, 5 shards) and a retrain baseline → file a request for one subject → run it
(only the subject's shard retrains; the baseline retrains fully) → erase → certify on the lineage proof → the
audit's statistical follow-up (a second signed report), run at once instead of at the scheduled audit.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from ui.services import Services
from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.lifecycle import statistics_pending
from unlearn.methods import MethodSettings, get_method, set_serving
from unlearn.progress import TqdmProgress
from unlearn.requests import ErasureRequest


def run_demo(services: Services, n_users: int, n_items: int, epochs: int, seed: int, console: Console) -> str:
    """Run the demo in a fresh workspace; returns the certificate JSON path."""
    ledger, engine = services.ledger, services.engine
    progress = TqdmProgress()
    console.rule("1. ingest the seeded synthetic data set")
    raw = load_source("synthetic", seed=seed, n_users=n_users, n_items=n_items)
    facts = ingest(ledger, raw, split_seed=seed, actor="demo").payload
    console.print(f"{facts['n_interactions']:,} interactions of {facts['n_users']:,} users on "
                  f"{facts['n_items']:,} items; digest {facts['digest']}")

    console.rule("2. train a SISA deployment (5 shards) and a retrain baseline")
    model = {"epochs": epochs}
    timings = {}
    for method, shards in (("retrain", 1), ("sisa", 5)):
        started = time.perf_counter()
        deployment = get_method(method).fit(
            ledger, MethodSettings(method=method, shards=shards, seed=seed, model=model), progress, actor="demo"
        )
        timings[method] = time.perf_counter() - started
        console.print(f"{deployment.deployment_id}: {len(deployment.checkpoints)} checkpoint(s) in {timings[method]:.1f}s")
    set_serving(ledger, deployment.deployment_id, actor="demo")

    console.rule("3. file an erasure request for one subject")
    subjects = ledger.store.subjects_frame()
    subject = str(subjects.sort_values("interactions", ascending=False).iloc[len(subjects) // 2]["subject"])
    request_id = engine.file(ErasureRequest(subject=subject, notes="lethe demo"), actor="demo")
    console.print(f"subject {subject}: request {request_id}")

    console.rule("4. run it: unlearn, erase, verify, sign, certify")
    started = time.perf_counter()
    record = engine.run(request_id, progress, actor="demo")
    console.print(f"request {request_id} is {record.state} after {time.perf_counter() - started:.1f}s")
    _summary(services, request_id, console)
    final = record.history[-1].payload
    if record.state != "certified":
        console.print(f"[red]not certified:[/red] {final.get('reason')}")
        return ""
    certificate = ledger.workspace.root / final["json_path"]
    console.print(f"certificate: {certificate}\n         pdf: {ledger.workspace.root / final['pdf_path']}")
    console.print(f"verify it:   lethe certificate verify {certificate} --public-key {ledger.workspace.public_key_path}")
    if statistics_pending(record):
        _follow_up(services, request_id, console)
    return str(certificate)


def _follow_up(services: Services, request_id: str, console: Console) -> None:
    """Run now what the scheduled audit does for a certificate issued on the lineage proof: the statistical checks
    against models retrained without the data, signed as a second report that names the first."""
    from verify import run_audit

    console.rule("5. the audit's statistical follow-up (scheduled weekly; run now for the demo)")
    console.print("certified on the lineage proof: the statistics follow, with one shared reference per audit window")
    started = time.perf_counter()
    audit = run_audit(services.ledger, services.policy, role="officer", actor="demo")
    row = next(r for r in audit.requests if r.request_id == request_id)
    console.print(f"{row.action} in {time.perf_counter() - started:.1f}s: {row.detail}")
    record = services.ledger.request(request_id)
    assert record is not None
    follow_up = record.payload("statistically_verified")
    if follow_up is not None:
        _report_tables(services, follow_up["report_path"], console)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _summary(services: Services, request_id: str, console: Console) -> None:
    """Per deployment: shards retrained and retraining time; then the verification report's checks."""
    ledger = services.ledger
    record = ledger.request(request_id)
    assert record is not None
    checkpoints = {c.checkpoint_id: c for c in ledger.checkpoints()}
    table = Table(title="erasure per deployment")
    for column in ("deployment", "shards retrained", "interactions retrained", "retrain seconds"):
        table.add_column(column)
    for event in record.history:
        if event.kind != "request.unlearned":
            continue
        for deployment in event.payload["deployments"]:
            new = [checkpoints[r["new"]] for r in deployment["replaced"]]
            table.add_row(
                deployment["deployment_id"],
                ", ".join(str(c.shard) for c in new) or "-",
                f"{sum(c.n_interactions for c in new):,}",
                f"{sum(c.train_seconds for c in new):.2f}",
            )
    console.print(table)
    verified = next((e.payload for e in record.history if e.kind == "request.verified"), None)
    if verified is not None:
        _report_tables(services, verified["report_path"], console)


_VERDICT = {"pass": "[green]PASS[/green]", "fail": "[red]FAIL[/red]", "inconclusive": "[yellow]inconclusive[/yellow]"}


def _report_tables(services: Services, report_path: str, console: Console) -> None:
    """The signed report's checks (with their verdicts) and the metrics of every model it compared."""
    from verify import load_report

    workspace = services.ledger.workspace
    report = load_report(workspace.root / report_path, workspace.signer.public_key).predicate.model_dump(mode="json")
    checks = Table(title=f"verification report {report['report_id']} (signed; basis: {report['basis'] or 'statistics'})")
    for column in ("check", "value", "threshold", "verdict"):
        checks.add_column(column)
    for check in report["checks"]:
        value = _number(check["value"])
        threshold = "-" if check["threshold"] is None else f"{check['comparison']} {check['threshold']:.4f}"
        checks.add_row(check["name"], value, threshold, _VERDICT[check["verdict"]])
    console.print(checks)
    metrics = Table(title="models compared")
    names = list(report["metrics"])
    keys = list(report["metrics"][names[0]]) if names else []
    metrics.add_column("metric")
    for name in names:
        metrics.add_column(name)
    for key in keys:
        metrics.add_row(key, *(_number(report["metrics"][n].get(key)) for n in names))
    console.print(metrics)
