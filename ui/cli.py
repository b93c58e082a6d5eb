"""The ``lethe`` command line: a thin layer over library calls, for people, scripts and cron.

Exit codes: 0 success; 1 a failure Lethe recognised (one-line reason on stderr); 2 bad usage or a request
that cannot be served; 3 an integrity or signature fault. ``--verbose`` re-raises for a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ledger import LetheError, load_public_key
from ledger.errors import LedgerIntegrityError

app = typer.Typer(help="Lethe: erasure you can prove, for recommender systems.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
request_app = typer.Typer(help="File, run and inspect erasure requests.", no_args_is_help=True)
ledger_app = typer.Typer(help="Check the lineage ledger.", no_args_is_help=True)
certificate_app = typer.Typer(help="Check certificates offline.", no_args_is_help=True)
app.add_typer(request_app, name="request")
app.add_typer(ledger_app, name="ledger")
app.add_typer(certificate_app, name="certificate")
audit_app = typer.Typer(help="Verification audits: run one now, or on the policy's schedule.", no_args_is_help=True)
policy_app = typer.Typer(help="Show or activate the policy in force.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
user_app = typer.Typer(help="Who may sign in to the console, and with which role.", no_args_is_help=True)
app.add_typer(user_app, name="user")

out = Console(soft_wrap=True)  # never wrap ids, hashes or signatures: people copy them
err = Console(stderr=True, soft_wrap=True)

Workspace = Annotated[
    Optional[Path], typer.Option("--workspace", "-w", help="workspace folder (default $LETHE_HOME or ./lethe-workspace)")
]
PolicyOption = Annotated[Optional[Path], typer.Option("--policy", help="policy YAML (default: the shipped one)")]
Verbose = Annotated[bool, typer.Option("--verbose", help="show the full traceback on errors")]


def reasons(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn Lethe's expected errors into a one-line reason and their exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (LetheError, ValueError) as exc:
            if kwargs.get("verbose"):
                raise
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None

    return wrapper


def _services(workspace: Path | None, policy: Path | None = None):  # noqa: ANN202 - lazy import keeps --help fast
    from ui._services import open_services

    return open_services(workspace, policy)


@app.command()
@reasons
def demo(workspace: Workspace = None, users: int = 1000, items: int = 600, epochs: int = 20, seed: int = 0,
         verbose: Verbose = False) -> None:
    """Run the whole path on the embedded synthetic data set and print the certificate's path."""
    from ui._demo import run_demo

    run_demo(_services(workspace), n_users=users, n_items=items, epochs=epochs, seed=seed, console=out)


@app.command()
@reasons
def ingest(
    source: Annotated[str, typer.Option(help="synthetic, ml-100k, ml-1m, lightgcn or csv")] = "synthetic",
    path: Annotated[Optional[Path], typer.Option(help="file or folder of the data set")] = None,
    user_col: str = "user_id", item_col: str = "item_id", rating_col: str = "rating", time_col: str = "timestamp",
    test_fraction: float = 0.2, seed: int = 0, workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Load a data set into the store and record it (with its digest and split) in the ledger."""
    from unlearn.data import ColumnMapping, load_source
    from unlearn.ingest import ingest as ingest_data

    services = _services(workspace)
    raw = load_source(source, path, ColumnMapping(user_col, item_col, rating_col, time_col), seed=seed)
    event = ingest_data(services.ledger, raw, test_fraction=test_fraction, split_seed=seed)
    p = event.payload
    out.print(f"ingested {p['name']}: {p['n_interactions']:,} interactions, {p['n_users']:,} users, "
              f"{p['n_items']:,} items (train {p['n_train']:,} / test {p['n_test']:,}); digest {p['digest']}")


@app.command()
@reasons
def train(
    method: Annotated[str, typer.Option(help="retrain, sisa, receraser, laser, warm_start, alteraser, cff or incremental")] = "sisa",
    model: Annotated[str, typer.Option(help="base model: bpr, wmf, lightgcn, dmf, neumf, rating_mf or an adapter (implicit-als, ...)")] = "bpr",
    shards: int = 5, epochs: Optional[int] = None, seed: int = 0,
    partition: Annotated[Optional[str], typer.Option(help="receraser: ubp (default), inbp, ibp or random")] = None,
    aggregation: Annotated[Optional[str], typer.Option(help="receraser: attention (default), mean or static")] = None,
    workers: Annotated[int, typer.Option(min=1, help="processes training shards at once (1: in this process)")] = 1,
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", "-o", help="method-specific option KEY=VALUE (VALUE read as JSON when it parses), repeatable")] = None,
    serve: Annotated[bool, typer.Option(help="make it the serving deployment")] = True,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Train a deployment; every interaction's shard and every checkpoint go to the ledger."""
    from unlearn.executor import executor_for
    from unlearn.methods import MethodSettings, get_method, set_serving
    from unlearn.progress import TqdmProgress

    services = _services(workspace)
    shards = 1 if method == "retrain" else shards
    settings = MethodSettings(method=method, base_model=model, shards=shards, seed=seed, partition=partition,
                              aggregation=aggregation, model={"epochs": epochs} if epochs else {},
                              options=_parse_options(option or []))
    trainer = get_method(method).with_executor(executor_for(workers))
    deployment = trainer.fit(services.ledger, settings, TqdmProgress(), actor="cli")
    if serve:
        set_serving(services.ledger, deployment.deployment_id, actor="cli")
    out.print(f"trained {deployment.deployment_id} ({len(deployment.checkpoints)} checkpoint(s))"
              + (", now serving" if serve else ""))


def _parse_options(pairs: list[str]) -> dict[str, object]:
    """``["groups=8", "order=\"easy\""]`` → ``{"groups": 8, "order": "easy"}``; a bare string stays a string."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--option wants KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@app.command()
@reasons
def evaluate(as_json: Annotated[bool, typer.Option("--json")] = False, workspace: Workspace = None,
             verbose: Verbose = False) -> None:
    """Recall and NDCG @10/@20 of the serving deployment on the test split."""
    from ui._reports import evaluate_serving

    result = evaluate_serving(_services(workspace).ledger)
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(title=f"{result['deployment_id']} on the test split ({result['users']:,} users)")
    for key in result["metrics"]:
        table.add_column(key)
    table.add_row(*(f"{v:.4f}" for v in result["metrics"].values()))
    out.print(table)


@request_app.command("file")
@reasons
def request_file(
    subject: Annotated[list[str], typer.Option(
        help="the data subject's id in the data set; repeat for a batch of whole subjects")],
    item: Annotated[Optional[list[str]], typer.Option(
        "--item", help="erase only the subject's interactions with this item (repeat for several)")] = None,
    since: Annotated[Optional[datetime], typer.Option(
        "--from", help="erase only the subject's interactions from this time (UTC) ...")] = None,
    until: Annotated[Optional[datetime], typer.Option(
        "--until", help="... until this time (UTC, excluded); both or neither")] = None,
    basis: Annotated[str, typer.Option(help="legal basis")] = "Art. 17(1)(b): consent withdrawn",
    notes: str = "", workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """File an erasure request: the whole subject, only listed items (--item) or a time window (--from/--until), or a
    batch of whole subjects (--subject repeated); prints its id."""
    from unlearn.requests import BatchErasureRequest, ErasureRequest, ListedInteractions, TimeWindow, WholeSubject

    services = _services(workspace, policy)
    if len(subject) > 1:
        if item or since or until:
            raise ValueError("a batch erases whole subjects: --item and --from/--until take one --subject")
        batch = BatchErasureRequest(subjects=subject, basis=basis, notes=notes)
        out.print(services.engine.file(batch, actor="cli"))
        return
    if item and (since or until):
        raise ValueError("give listed items (--item) or a time window (--from/--until), not both")
    if (since is None) != (until is None):
        raise ValueError("a time window needs both --from and --until")
    scope = (ListedInteractions(items=item) if item else TimeWindow(start=since, end=until) if since and until
             else WholeSubject())
    request = ErasureRequest(subject=subject[0], scope=scope, basis=basis, notes=notes)
    out.print(services.engine.file(request, actor="cli"))


@request_app.command("run")
@reasons
def request_run(request_id: str, workspace: Workspace = None, policy: PolicyOption = None,
                verbose: Verbose = False) -> None:
    """Run (or resume) a request to its end: unlearn, erase, verify, certify."""
    from unlearn.progress import TqdmProgress

    record = _services(workspace, policy).engine.run(request_id, TqdmProgress(), actor="cli")
    out.print(f"{request_id}: {record.state}")
    final = record.payload(record.state) or {}  # the state's event, not a later annotation (an extension)
    if record.state == "certified":
        out.print(f"certificate: {final['json_path']} and {final['pdf_path']}")
    elif "reason" in final:
        err.print(f"reason: {final['reason']}")
        raise typer.Exit(1)


@request_app.command("retry")
@reasons
def request_retry(
    request_id: str,
    actor: Annotated[str, typer.Option(help="who retries it (recorded in the ledger as the retry's actor)")] = "cli",
    run: Annotated[bool, typer.Option("--run", help="run it at once after recording the retry")] = False,
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Retry a failed request: record who retries it and reopen it at the last step that completed (nothing recorded
    is redone: a failure at verification re-runs verification only). Its deadline does not change."""
    services = _services(workspace, policy)
    record = services.engine.retry(request_id, actor=actor)
    retried = record.retries[-1]
    out.print(f"{request_id}: retried by {actor.strip()} (attempt {retried['attempt']}); resumes from {record.state}, "
              f"due {retried['due']}", markup=False, highlight=False)
    if not run:
        out.print(f"run it with `lethe request run {request_id}`", highlight=False)
        return
    from unlearn.progress import TqdmProgress

    record = services.engine.run(request_id, TqdmProgress(), actor=actor.strip())
    out.print(f"{request_id}: {record.state}", highlight=False)
    final = record.payload(record.state) or {}
    if record.state == "certified":
        root = services.ledger.workspace.root
        out.print(f"certificate: {root / final['json_path']} and {root / final['pdf_path']}", highlight=False)
    elif "reason" in final:
        err.print(f"reason: {final['reason']}", markup=False, highlight=False)
        raise typer.Exit(1)


@request_app.command("show")
@reasons
def request_show(request_id: str, as_json: Annotated[bool, typer.Option("--json")] = False,
                 workspace: Workspace = None, verbose: Verbose = False) -> None:
    """A request's state and its full event history."""
    from ui._reports import request_summary

    services = _services(workspace)
    summary = request_summary(services.ledger, services.policy, request_id)
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(f"[bold]{request_id}[/bold] — {summary['state']} (received {summary['received_at']}, "
              f"deadline {summary['deadline']}); scope: {summary['scope']}")
    table = Table("seq", "time", "state", "actor", "facts")
    for event in summary["history"]:
        table.add_row(str(event["seq"]), event["ts"][:19], event["state"], event["actor"], event["facts"])
    out.print(table)


@request_app.command("list")
@reasons
def request_list(workspace: Workspace = None, verbose: Verbose = False) -> None:
    """Every request with its state and deadline."""
    from ui._reports import request_rows

    table = Table("request", "state", "scope", "received", "deadline", "basis")
    table.columns[0].no_wrap = True
    services = _services(workspace)
    for row in request_rows(services.ledger, services.policy):
        table.add_row(row["request_id"], row["state"], row["scope"], row["received_at"], row["deadline"], row["basis"])
    out.print(table)


@ledger_app.command("verify")
@reasons
def ledger_verify(
    checkpoint: Annotated[Optional[Path], typer.Option(help="an exported checkpoint note to check the log against")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Recompute the hash chain, bulk digests and signed checkpoints; name the first fault."""
    from ledger import SignedCheckpoint

    external = SignedCheckpoint.read(checkpoint) if checkpoint else None
    result = _services(workspace).ledger.verify(external)
    if not result.ok:
        raise LedgerIntegrityError(f"ledger verification failed at seq {result.first_bad_seq}: {result.reason}")
    out.print(f"ledger ok: {result.events_checked} events, head {result.head_hash}")


@ledger_app.command("checkpoint")
@reasons
def ledger_checkpoint(workspace: Workspace = None, verbose: Verbose = False) -> None:
    """Sign the current tree head and export it as a note an auditor can keep."""
    services = _services(workspace)
    head = services.ledger.checkpoint()
    out.print(head.to_note(), end="", highlight=False)
    err.print(f"saved {services.ledger.workspace.root / 'checkpoints' / f'{head.tree_size}.note'}")


@ledger_app.command("prove")
@reasons
def ledger_prove(
    request: Annotated[str, typer.Option(help="request id whose events to prove")],
    output: Annotated[Optional[Path], typer.Option("--out", help="write the bundle here instead of stdout")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Inclusion proofs of a request's events against a freshly signed checkpoint (JSON)."""
    from ledger import bundle_json

    text = bundle_json(_services(workspace).ledger.prove_request(request))
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        out.print(text, highlight=False, soft_wrap=True)


@ledger_app.command("lineage")
@reasons
def ledger_lineage(
    subject: Annotated[Optional[str], typer.Option(help="a data subject's id")] = None,
    checkpoint: Annotated[Optional[str], typer.Option(help="a checkpoint id")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Where a subject's interactions went (shards, checkpoints, erasures), or a checkpoint's parent chain."""
    if (subject is None) == (checkpoint is None):
        raise ValueError("give exactly one of --subject or --checkpoint")
    ledger = _services(workspace).ledger
    result = ledger.subject_lineage(subject) if subject is not None else ledger.checkpoint_lineage(checkpoint)
    if as_json:
        out.print_json(json.dumps(result))
        return
    if checkpoint is not None:
        table = Table("checkpoint", "parent", "interactions", "training-set digest", "excludes requests")
        for record in result:
            table.add_row(record["checkpoint_id"], record["parent"] or "-", f"{record['n_interactions']:,}",
                          record["training_set_digest"][:23] + "…", ", ".join(record["excludes_requests"]) or "-")
        out.print(table)
        return
    out.print(f"subject ref {result['subject_ref']}: {len(result['interaction_ids'])} interaction id(s); "
              f"raw data in store: {'yes' if result['data_in_store'] else 'no (erased)'}")
    table = Table("deployment", "shard", "live checkpoint", "serving", "interactions", "still trained on")
    groups: dict[tuple, list[dict]] = {}
    for row in result["placements"]:
        groups.setdefault((row["deployment_id"], row["shard"], row["checkpoint"], row["serving"]), []).append(row)
    for (deployment_id, shard, checkpoint_id, serving), rows in groups.items():
        table.add_row(deployment_id, str(shard), checkpoint_id or "-", "yes" if serving else "",
                      str(len(rows)), str(sum(r["in_training_set"] for r in rows)))
    out.print(table)
    for request in result["requests"]:
        out.print(f"request {request['request_id']}: {request['state']} (received {request['received_at']})")


@certificate_app.command("verify")
@reasons
def certificate_verify(
    certificate: Path,
    public_key: Annotated[Optional[Path], typer.Option(help="PEM public key (default: the workspace's)")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="your exported checkpoint note of the same log")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Check a certificate offline: signature, content, and its ledger inclusion proof (public key only)."""
    from ledger import default_workspace_path
    from verify import verify_certificate_file

    key_path = public_key or (workspace or default_workspace_path()) / "keys" / "signing.pub"
    from ledger import SignedCheckpoint

    external = SignedCheckpoint.read(checkpoint) if checkpoint else None
    cert = verify_certificate_file(certificate, load_public_key(key_path), external)
    verdict = "PASSED" if cert.passed else "FAILED"
    out.print(f"certificate {cert.certificate_id} is authentic: request {cert.request_id}, method {cert.method}, "
              f"verification {verdict}, signed by key {cert.key_fingerprint[:16]}…; its "
              f"{len(cert.inclusion_proof['events'])} ledger events are included in the signed checkpoint of size "
              f"{cert.ledger_checkpoint['tree_size']}")


@user_app.command("add")
@reasons
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="officer (files and runs requests) or auditor (reads, verifies, audits)")],
    replace: Annotated[bool, typer.Option(help="change an existing user's role and password")] = False,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Add a console user; prompts for the password (kept as an argon2id hash in the workspace's users.toml)."""
    from ui._access import add_user

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = add_user(_services(workspace).ledger, name, role, password, replace=replace)
    out.print(f"{'updated' if replace else 'added'} {user.role} {user.name!r}")


@app.command()
@reasons
def console(workspace: Workspace = None, port: int = 8501, verbose: Verbose = False) -> None:
    """Start the Streamlit console for privacy officers and auditors."""
    import os

    from ledger import default_workspace_path

    env = {**os.environ, "LETHE_HOME": str((workspace or default_workspace_path()).resolve())}
    app_path = Path(__file__).with_name("app.py")
    raise typer.Exit(subprocess.call(
        [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.port", str(port),
         "--browser.gatherUsageStats", "false"], env=env,
    ))


@request_app.command("extend")
@reasons
def request_extend(
    request_id: str,
    months: Annotated[int, typer.Option(help="months to add to the deadline (total at most the policy's maximum)")],
    reason: Annotated[str, typer.Option(help="why the extension is needed (told to the subject, Art. 12(3))")],
    role: Annotated[str, typer.Option(help="role approving the extension (see the policy's approvers)")] = "officer",
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Extend an open request's GDPR deadline by up to the policy's maximum, with a recorded reason."""
    services = _services(workspace, policy)
    record = services.engine.extend(request_id, months, reason, actor="cli", role=role)
    out.print(f"{request_id}: due {services.policy.deadlines.due_date(record).isoformat()} "
              f"(extended by {record.extension_months} month(s) in total)")


@audit_app.command("run")
@reasons
def audit_run(
    window_days: Annotated[Optional[int], typer.Option(min=1, help="days of erasures to re-check (default: policy)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    role: Annotated[str, typer.Option(help="role running the audit (see the policy's approvers)")] = "auditor",
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Audit now (for cron): ledger, re-contamination, the window's erasures, deadlines. Exit 1 if a check fails."""
    from unlearn.progress import TqdmProgress
    from verify import audit_report_path, run_audit

    services = _services(workspace, policy)
    report = run_audit(services.ledger, services.policy, window_days=window_days, role=role, actor="cli",
                       progress=TqdmProgress())
    path = audit_report_path(services.ledger.workspace.root, report.audit_id)
    if as_json:
        out.print_json(json.dumps({**report.model_dump(mode="json"), "report_path": str(path)}))
    else:
        table = Table("check", "result", "detail", title=f"{report.audit_id} ({report.window_days}-day window)")
        for check in report.checks:
            table.add_row(check.name, "[green]pass[/green]" if check.passed else "[red]FAIL[/red]", check.detail)
        out.print(table)
        for check in report.checks:
            for finding in check.findings:
                (out if check.passed else err).print(f"{check.name}: {finding}", highlight=False)
        out.print(f"signed report: {path}")
    if not report.passed:
        err.print(f"[red]audit failed:[/red] {', '.join(report.failed_checks)}", highlight=False)
        raise typer.Exit(1)


@audit_app.command("schedule")
@reasons
def audit_schedule(
    role: Annotated[str, typer.Option(help="role the scheduled audits run as")] = "auditor",
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Run the audit on the policy's cron (UTC) until Ctrl-C; each run re-reads the policy in force."""
    from ui._scheduler import JOB_ID, build_scheduler

    scheduler = build_scheduler(workspace, policy, role, lambda line: out.print(line, highlight=False))
    trigger = scheduler.get_job(JOB_ID).trigger
    first = trigger.get_next_fire_time(None, datetime.now(timezone.utc))
    try:  # from the first line on, Ctrl-C stops cleanly
        out.print(f"auditing on {trigger} (UTC); next run {first:%Y-%m-%d %H:%M} UTC; Ctrl-C to stop",
                  markup=False, highlight=False)
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
    out.print("scheduler stopped")


@policy_app.command("show")
@reasons
def policy_show(as_json: Annotated[bool, typer.Option("--json")] = False, workspace: Workspace = None,
                policy: PolicyOption = None, verbose: Verbose = False) -> None:
    """The policy in force (its digest, and whether the ledger has recorded it)."""
    from policies import recorded_policy

    services = _services(workspace, policy)
    recorded = recorded_policy(services.ledger)
    document = {**services.policy.document(), "digest": services.policy.digest,
                "recorded_in_ledger": recorded is not None and recorded["digest"] == services.policy.digest}
    if as_json:
        out.print_json(json.dumps(document))
        return
    import yaml

    out.print(yaml.safe_dump(document, sort_keys=False), highlight=False)


@policy_app.command("activate")
@reasons
def policy_activate(
    path: Path,
    role: Annotated[str, typer.Option(help="role approving the change (checked against the policy in force)")] = "officer",
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Validate a policy file, make it the workspace's policy in force, and record it in the ledger."""
    from policies import activate_policy

    activated = activate_policy(_services(workspace).ledger, path, role, actor="cli")
    out.print(f"policy {activated.name!r} v{activated.version} in force: {activated.digest}")


if __name__ == "__main__":
    app()


@app.command()
@reasons
def register(
    framework: Annotated[str, typer.Option(help="implicit-als, implicit-bpr, sklearn-svd, sklearn-nmf or torch")],
    model: Annotated[Path, typer.Option(help="the trained model file the framework saved")],
    data: Annotated[Optional[Path], typer.Option(help="its training interactions (CSV/Parquet; default: the "
                                                      "workspace's whole training split)")] = None,
    test_data: Annotated[Optional[Path], typer.Option(help="held-out interactions (an empty workspace only)")] = None,
    user_col: str = "user_id", item_col: str = "item_id", rating_col: str = "rating", time_col: str = "timestamp",
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", help="model setting KEY=VALUE (torch: module=pkg.mod:Class or file.py:Class), repeatable")] = None,
    user_ids: Annotated[Optional[Path], typer.Option(help="raw user ids in the model's row order, one a line")] = None,
    item_ids: Annotated[Optional[Path], typer.Option(help="raw item ids in the model's column order, one a line")] = None,
    method: Annotated[str, typer.Option(help="how it forgets: retrain, alteraser, warm_start or incremental")] = "retrain",
    seed: Annotated[int, typer.Option(help="seed of every later retrain")] = 0,
    serve: Annotated[bool, typer.Option(help="make it the serving deployment")] = True,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Register a model trained outside Lethe, with its training data, as a deployment that serves requests."""
    from unlearn.adapters import applicable_methods, register_model
    from unlearn.data import ColumnMapping, load_source

    columns = ColumnMapping(user_col, item_col, rating_col, time_col)
    raw = {name: load_source("csv", path, columns) if path else None
           for name, path in (("data", data), ("test_data", test_data))}
    ids = {name: path.read_text(encoding="utf-8").split() if path else None
           for name, path in (("user_ids", user_ids), ("item_ids", item_ids))}
    services = _services(workspace)
    deployment = register_model(services.ledger, framework, model, raw["data"], raw["test_data"],
                                params=_parse_options(param or []), method=method, seed=seed, serve=serve,
                                actor="cli", **ids)
    record = deployment.checkpoints[0]
    out.print(f"registered {deployment.deployment_id}: {record['n_interactions']:,} training interactions, "
              f"artifact {record['artifact_sha256']}" + (", now serving" if serve else ""))
    table = Table("method", "applies", "exact", "reason", title=f"methods for {framework}")
    for verdict in applicable_methods(framework):
        table.add_row(verdict.method, "yes" if verdict.applies else "no", "yes" if verdict.exact else "no",
                      verdict.reason)
    out.print(table)
