"""The ``lethe`` command line: a thin layer over library calls, for people, scripts and cron.

Exit codes (the README's table): 0 success; 1 a failure Lethe recognised (one-line reason on stderr); 2 bad usage
or a request that cannot be served (a wrong option, path, file or workspace); 3 an integrity or signature fault.
``--verbose`` re-raises for a traceback.

Start-up stays light: this module imports only typer and rich, so ``--help`` loads neither pandas nor torch, and
each command imports what it needs (ingesting, the ledger, policy and certificate commands never load torch).
Commands other than ``demo``, ``ingest``, ``register``, ``user add`` (which create it only once their input has been
checked), ``console`` and ``audit schedule`` need an existing workspace and say so instead of creating an empty one.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import partial, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # imported inside the commands: the ledger pulls in pandas, the services torch
    from ledger import Ledger
    from policies import Policy
    from ui.services import Services
    from unlearn.data import ColumnMapping


def _group(help: str) -> typer.Typer:  # noqa: A002 - typer's own name for it
    # rich_markup_mode=None: click's plain help. Typer's rich help prints "<bool>" after every flag (--json,
    # --verbose, --help itself); the plain one prints a flag as a flag, and needs no rich import to do it.
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)


app = _group("Lethe: erasure you can prove, for recommender systems.")
request_app = _group("File, run and inspect erasure requests.")
ledger_app = _group("Check the lineage ledger.")
certificate_app = _group("Check certificates offline.")
app.add_typer(request_app, name="request")
app.add_typer(ledger_app, name="ledger")
app.add_typer(certificate_app, name="certificate")
audit_app = _group("Verification audits: run one now, or on the policy's schedule.")
policy_app = _group("Show or activate the policy in force.")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
user_app = _group("Who may sign in to the console, and with which role.")
app.add_typer(user_app, name="user")
deployment_app = _group("Deployments: retire one whose training was interrupted.")
app.add_typer(deployment_app, name="deployment")

out = Console(soft_wrap=True)  # never wrap ids, hashes or signatures: people copy them
err = Console(stderr=True, soft_wrap=True)

Workspace = Annotated[
    Optional[Path], typer.Option("--workspace", "-w", help="workspace folder (default $LETHE_HOME or ./lethe-workspace)")
]
PolicyOption = Annotated[Optional[Path], typer.Option("--policy", help="policy YAML (default: the shipped one)")]
Verbose = Annotated[bool, typer.Option("--verbose", help="show the full traceback on errors")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
RequestId = Annotated[str, typer.Argument(help="the request's id, as `lethe request file` printed it")]
Actor = Annotated[str, typer.Option(help="who does it (recorded in the ledger as the event's actor)")]
ExecutorOption = Annotated[Optional[str], typer.Option(
    "--executor", help="where shards and reference retrains train: local (this machine) or ray "
                       "[default: $LETHE_EXECUTOR, else local]")]
RayAddress = Annotated[Optional[str], typer.Option(
    "--ray-address", help="with --executor ray: auto, HOST:PORT or ray://HOST:PORT [default: $LETHE_RAY_ADDRESS, "
                          "else a Ray started on this machine]")]

LEDGER_FILE = "ledger.duckdb"  # a folder is a workspace once it holds its ledger (ledger/_workspace.py's layout)


class UsageProblem(Exception):
    """Bad usage the command line itself finds (a wrong path, file, key or workspace): exit code 2."""

    exit_code = 2


def _expected(exc: BaseException) -> bool:
    """Lethe's own errors, and bad values (pydantic's ValidationError is a ValueError); not typer's Exit."""
    if isinstance(exc, (UsageProblem, ValueError)):
        return True
    errors = sys.modules.get("ledger.errors")  # loaded by whatever raised a LetheError
    return errors is not None and isinstance(exc, errors.LetheError)


def reasons(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn Lethe's expected errors into a one-line reason and their exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if kwargs.get("verbose") or not _expected(exc):
                raise
            err.print(f"[red]error:[/red] {escape(_one_line(exc))}", highlight=False)
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None

    return wrapper


def _one_line(exc: BaseException) -> str:
    """The reason on one line: pydantic's multi-line report cut to its first error, any other text's lines joined."""
    if type(exc).__name__ == "ValidationError" and callable(getattr(exc, "errors", None)):
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        reason = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's own ValueError
        text = f"{field}: {reason}" if field else reason
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


# -- workspaces ----------------------------------------------------------------------------------------------------
def _root(workspace: Path | None) -> Path:
    from ledger import default_workspace_path

    return (workspace or default_workspace_path()).resolve()


def _require_workspace(workspace: Path | None) -> Path:
    """The workspace's folder if it holds a ledger; otherwise a usage error, and nothing is created."""
    root = _root(workspace)
    if not (root / LEDGER_FILE).is_file():
        where = "--workspace" if workspace else "$LETHE_HOME" if os.environ.get("LETHE_HOME") else "the default"
        raise UsageProblem(f"no Lethe workspace at {root} ({where}; it has no {LEDGER_FILE}): start one with "
                           "`lethe ingest` or `lethe demo`, or pass --workspace/-w (or set $LETHE_HOME)")
    return root


def _ledger(workspace: Path | None, create: bool = False) -> Ledger:
    from ledger import Ledger

    return Ledger.open(_root(workspace) if create else _require_workspace(workspace))


def _policy(ledger: Ledger, policy: Path | None) -> Policy:
    from policies import active_policy_path, load_policy

    return _routed_to_registered(load_policy(policy or active_policy_path(ledger.workspace.root)))


def _routed_to_registered(policy: Policy) -> Policy:
    """The policy, if every method its routing names is registered (the registry, and torch, load only then)."""
    from policies import RequestKind

    if any(policy.routing.method_for(kind) for kind in RequestKind):
        from unlearn.registry import methods

        policy.routing.require_registered(methods())
    return policy


def _choose_executor(executor: str | None, ray_address: str | None) -> None:
    """``--executor``/``--ray-address``: set for this process and the ones it starts (``LETHE_EXECUTOR``)."""
    if executor is None and ray_address is None:
        return
    from unlearn.executor import executor_kind, use_executor

    try:
        use_executor(executor or executor_kind(), ray_address)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _services(workspace: Path | None, policy: Path | None = None, *, create: bool = False) -> Services:
    """Ledger, policy and erasure engine (this loads torch); an existing workspace unless ``create``."""
    from ui.services import open_services

    return open_services(_root(workspace) if create else _require_workspace(workspace), policy)


def _existing_file(path: Path | None, option: str) -> Path | None:
    if path is not None and not path.is_file():
        raise UsageProblem(f"{path}: no such file ({option})")
    return path


# -- output helpers ------------------------------------------------------------------------------------------------
def _utc(timestamp: str) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS UTC``, whole (nothing cut); anything else as it is."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return str(timestamp)
    if moment.utcoffset() is None or moment.utcoffset().total_seconds() != 0:
        return str(timestamp)
    return moment.replace(tzinfo=None).isoformat(sep=" ") + " UTC"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _print_checks(checks: Iterable[Any]) -> None:
    """One line per check of a report or certificate: verdict, name, measured value against its threshold, role."""
    checks = list(checks)
    if not checks:
        return
    width = max(len(check.name) for check in checks)
    styles = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for check in checks:
        verdict = getattr(check, "verdict", None) or ("pass" if check.passed else "fail")
        if check.value is None and check.threshold is None:
            measured = check.comparison
        else:
            measured = f"{_number(check.value)} {check.comparison} {_number(check.threshold)}"
        role = f"  ({check.role})" if getattr(check, "role", None) else ""
        style = styles.get(verdict, "bold")
        out.print(f"  [{style}]{verdict:<12}[/{style}] {escape(check.name.ljust(width))}  {escape(measured)}{role}",
                  highlight=False)


def _print_verification(ledger: Ledger, record: Any) -> None:
    """The verdicts of a request's verifications, from their signed reports (checked with the workspace key): the
    report it was certified (or failed) on, a statistical follow-up of a certificate on the lineage proof, or the
    inconclusive report of a request waiting for the audit window."""
    verified, waiting = record.payload("verified"), record.payload("awaiting_window")
    if verified is None:
        if waiting is not None and record.state == "data_erased":
            out.print(f"verification: {waiting['reason']}; audit due by {waiting['audit_due']}", highlight=False)
            _print_report(ledger, waiting["report_path"], "inconclusive verification")
        elif record.state == "data_erased":
            out.print("verification: deferred to the next audit (the policy's audit.defer_verification)",
                      highlight=False)
        return
    report = _print_report(ledger, verified["report_path"], "verification")
    if report is None or report.basis != "lineage":
        return
    follow_up = record.payload("statistically_verified")
    if follow_up is None:
        out.print("certified on the lineage proof: the statistical checks follow at the next audit", highlight=False)
    else:
        _print_report(ledger, follow_up["report_path"], "statistical follow-up")


def _print_report(ledger: Ledger, report_path: str, what: str) -> Any:
    """One signed report's outcome and checks; returns its predicate (``None`` if its file is gone)."""
    path = ledger.workspace.root / report_path
    if not path.is_file():
        out.print(f"{what} report {path}: no longer on disk", highlight=False)
        return None
    from verify import load_report

    report = load_report(path, ledger.workspace.public_key_path).predicate
    outcome = "passed" if report.passed else "did not pass"
    out.print(f"{what} {outcome} ({report.method}, {'exact' if report.exact else 'approximate'}, basis "
              f"{report.basis or 'statistics'}); report {path}", highlight=False)
    _print_checks(report.checks)
    return report


def _certificate_paths(ledger: Ledger, record: Any) -> dict[str, str] | None:
    """The certificate's files as absolute paths (the ledger records them relative to the workspace)."""
    certified = record.payload("certified") if record.state == "certified" else None
    if certified is None:
        return None
    root = ledger.workspace.root
    return {"json": str(root / certified["json_path"]), "pdf": str(root / certified["pdf_path"])}


def _print_certificate(paths: dict[str, str] | None) -> None:
    if paths:
        out.print(f"certificate: {paths['json']}", highlight=False)
        out.print(f"        PDF: {paths['pdf']}", highlight=False)


def _echo_json(document: Any) -> None:
    """Whole JSON on stdout, no markup or wrapping, so it parses whatever the terminal's width."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def _brief(value: Any) -> Any:
    """A payload for people: lists of more than five entries become their count; nothing else is shortened."""
    if isinstance(value, list):
        return f"[{len(value)} items]" if len(value) > 5 else [_brief(v) for v in value]
    if isinstance(value, dict):
        return {key: _brief(v) for key, v in value.items()}
    return value


# -- data ----------------------------------------------------------------------------------------------------------
def _file_columns(path: Path | None) -> list[str] | None:
    """A CSV's header or a parquet file's columns; None if unreadable (the loader then says why)."""
    if path is None or not path.is_file():
        return None
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if path.suffix.lower() == ".csv":
            import pandas as pd

            return [str(column) for column in pd.read_csv(path, nrows=0).columns]
    except Exception:  # noqa: BLE001 - any reading problem is the loader's to report, with its own message
        return None
    return None


def _csv_mapping(path: Path | None, user_col: str | None, item_col: str | None, rating_col: str | None,
                 time_col: str | None) -> tuple[ColumnMapping, list[str]]:
    """The columns to read from a CSV/Parquet file, and notes on what is not read.

    User and item default to ``user_id``/``item_id`` (the loader refuses a file without them). Rating and time
    are taken from ``--rating-col``/``--time-col`` (which must exist), else from a column named ``rating`` /
    ``timestamp`` if the file has one; a data set without them is ingested as implicit feedback, and the notes
    say so and name every column left unread.
    """
    from unlearn.data import ColumnMapping

    found = _file_columns(path)
    user, item = user_col or "user_id", item_col or "item_id"
    chosen: dict[str, str | None] = {}
    notes: list[str] = []
    for role, option, given, default in (("rating", "--rating-col", rating_col, "rating"),
                                         ("timestamp", "--time-col", time_col, "timestamp")):
        if given is not None:
            if found is not None and given not in found:
                raise UsageProblem(f"{path}: no {role} column {given!r} ({option}); columns found: {found}")
            chosen[role] = given
        elif found is None or default in found:
            chosen[role] = default  # unreadable header: the loader reports; else the default name is there
        else:
            chosen[role] = None
            notes.append(f"no {role} column (none is named {default!r}; name one with {option}): "
                         f"ingested without {role}s")
    if found is not None:
        unread = [column for column in found if column not in {user, item, *chosen.values()}]
        if unread:
            notes.append(f"columns not read: {', '.join(map(repr, unread))}")
    return ColumnMapping(user, item, chosen["rating"], chosen["timestamp"]), notes


def _load(source: str, path: Path | None, columns: ColumnMapping | None = None, seed: int = 0) -> Any:
    """A data set through :func:`unlearn.data.load_source`; what it cannot read is bad usage (exit 2)."""
    from unlearn.data import DataError, load_source

    try:
        return load_source(source, path, columns, seed=seed)
    except DataError as exc:
        raise UsageProblem(str(exc)) from exc


@app.command()
@reasons
def demo(
    workspace: Workspace = None,
    users: Annotated[int, typer.Option(help="users of the synthetic data set")] = 1000,
    items: Annotated[int, typer.Option(help="items of the synthetic data set")] = 600,
    epochs: Annotated[int, typer.Option(min=1, help="training epochs of every model")] = 20,
    seed: Annotated[int, typer.Option(help="seed of the data, the split and every model")] = 0,
    verbose: Verbose = False,
) -> None:
    """Run the whole path on the embedded synthetic data set and print the certificate's path."""
    from ui._demo import run_demo

    run_demo(_services(workspace, create=True), n_users=users, n_items=items, epochs=epochs, seed=seed, console=out)


@app.command()
@reasons
def ingest(
    source: Annotated[str, typer.Option(help="synthetic, ml-100k, ml-1m, lightgcn or csv (a .csv or .parquet file)")]
    = "synthetic",
    path: Annotated[Optional[Path], typer.Option(help="the data set's file or folder (every source but synthetic)")]
    = None,
    user_col: Annotated[Optional[str], typer.Option(help="csv: the user id column [default: user_id]")] = None,
    item_col: Annotated[Optional[str], typer.Option(help="csv: the item id column [default: item_id]")] = None,
    rating_col: Annotated[Optional[str], typer.Option(
        help="csv: the rating column [default: 'rating' if the file has one]")] = None,
    time_col: Annotated[Optional[str], typer.Option(
        help="csv: the unix-seconds time column [default: 'timestamp' if the file has one]")] = None,
    test_fraction: Annotated[float, typer.Option(
        help="share of each user's interactions held out for testing, in [0, 1) (lightgcn keeps its own split)")]
    = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the synthetic data and of the train/test split")] = 0,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Load a data set into the store and record it (with its digest and split) in the ledger."""
    if not 0.0 <= test_fraction < 1.0:
        raise UsageProblem(f"--test-fraction must be in [0, 1), got {test_fraction}")
    columns, notes = None, []
    given = {"--user-col": user_col, "--item-col": item_col, "--rating-col": rating_col, "--time-col": time_col}
    if source == "csv":
        columns, notes = _csv_mapping(path, user_col, item_col, rating_col, time_col)
    elif any(value is not None for value in given.values()):
        named = "/".join(option for option, value in given.items() if value is not None)
        raise UsageProblem(f"{named} only apply to --source csv, not {source!r} (its columns are fixed)")
    raw = _load(source, path, columns, seed)  # before the workspace: a wrong path must not create one
    from unlearn.ingest import ingest as ingest_data

    event = ingest_data(_ledger(workspace, create=True), raw, test_fraction=test_fraction, split_seed=seed)
    p = event.payload
    out.print(f"ingested {p['name']}: {p['n_interactions']:,} interactions, {p['n_users']:,} users, "
              f"{p['n_items']:,} items (train {p['n_train']:,} / test {p['n_test']:,}); digest {p['digest']}",
              highlight=False)
    if columns is not None:
        read = ", ".join(f"{role} {column!r}" if column else f"no {role}" for role, column in (
            ("user", columns.user_col), ("item", columns.item_col), ("rating", columns.rating_col),
            ("timestamp", columns.time_col)))
        out.print(f"columns: {read}", highlight=False)
    for note in notes:
        err.print(f"note: {escape(note)}", highlight=False)


@app.command()
@reasons
def train(
    method: Annotated[str, typer.Option(help="retrain, sisa, receraser, laser, warm_start, alteraser, cff or incremental")] = "sisa",
    model: Annotated[str, typer.Option(help="base model: bpr, wmf, lightgcn, dmf, neumf, rating_mf or an adapter (implicit-als, ...)")] = "bpr",
    shards: Annotated[int, typer.Option(min=1, help="shards (sisa, receraser) or groups (laser); retrain uses 1")] = 5,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="training epochs (default: the base model's)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the partition and of every model")] = 0,
    partition: Annotated[Optional[str], typer.Option(help="receraser: ubp (default), inbp, ibp or random")] = None,
    aggregation: Annotated[Optional[str], typer.Option(help="receraser: attention (default), mean or static")] = None,
    workers: Annotated[int, typer.Option(min=1, help="processes training shards at once (1: in this process)")] = 1,
    option: Annotated[Optional[list[str]], typer.Option(
        "--option", "-o", help="method-specific option KEY=VALUE (VALUE read as JSON when it parses), repeatable")] = None,
    serve: Annotated[bool, typer.Option(help="make it the serving deployment")] = True,
    executor: ExecutorOption = None, ray_address: RayAddress = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Train a deployment; every interaction's shard and every checkpoint go to the ledger."""
    _choose_executor(executor, ray_address)
    services = _services(workspace)
    from unlearn.executor import distributed_executor, executor_for
    from unlearn.methods import MethodSettings, get_method, set_serving
    from unlearn.progress import TqdmProgress

    shards = 1 if method == "retrain" else shards
    settings = MethodSettings(method=method, base_model=model, shards=shards, seed=seed, partition=partition,
                              aggregation=aggregation, model={"epochs": epochs} if epochs else {},
                              options=_parse_options(option or []))
    trainer = get_method(method).with_executor(distributed_executor() or executor_for(workers))
    deployment = trainer.fit(services.ledger, settings, TqdmProgress(), actor="cli")
    if serve:
        set_serving(services.ledger, deployment.deployment_id, actor="cli")
    out.print(f"trained {deployment.deployment_id} ({len(deployment.checkpoints)} checkpoint(s))"
              + (", now serving" if serve else ""), highlight=False)


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
def evaluate(as_json: AsJson = False, workspace: Workspace = None, verbose: Verbose = False) -> None:
    """Recall and NDCG @10/@20 of the serving deployment on the test split."""
    services = _services(workspace)
    from verify import evaluate_serving

    result = evaluate_serving(services.ledger)
    if as_json:
        _echo_json(result)
        return
    table = Table(title=f"{result['deployment_id']} on the test split ({result['users']:,} users)")
    for key in result["metrics"]:
        table.add_column(key, no_wrap=True)
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
    notes: Annotated[str, typer.Option(help="free-text notes kept with the request")] = "",
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """File an erasure request: the whole subject, only listed items (--item) or a time window (--from/--until), or a
    batch of whole subjects (--subject repeated); prints its id."""
    if len(subject) > 1 and (item or since or until):
        raise ValueError("a batch erases whole subjects: --item and --from/--until take one --subject")
    if item and (since or until):
        raise ValueError("give listed items (--item) or a time window (--from/--until), not both")
    if (since is None) != (until is None):
        raise ValueError("a time window needs both --from and --until")
    services = _services(workspace, policy)
    from unlearn.requests import BatchErasureRequest, ErasureRequest, ListedInteractions, TimeWindow, WholeSubject

    if len(subject) > 1:
        batch = BatchErasureRequest(subjects=subject, basis=basis, notes=notes)
        out.print(services.engine.file(batch, actor="cli", intake="cli"), highlight=False)
        return
    scope = (ListedInteractions(items=item) if item else TimeWindow(start=since, end=until) if since and until
             else WholeSubject())
    request = ErasureRequest(subject=subject[0], scope=scope, basis=basis, notes=notes)
    out.print(services.engine.file(request, actor="cli", intake="cli"), highlight=False)


@request_app.command("run")
@reasons
def request_run(request_id: RequestId, executor: ExecutorOption = None, ray_address: RayAddress = None,
                workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False) -> None:
    """Run (or resume) a request to its end: unlearn, erase, verify, certify; prints the verdicts and the
    certificate's files."""
    _choose_executor(executor, ray_address)
    _run_and_report(_services(workspace, policy), request_id, "cli")


@request_app.command("queue")
@reasons
def request_queue(
    request_id: RequestId,
    actor: Annotated[str, typer.Option(help="who asks for the run (recorded in the ledger)")] = "cli",
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Queue a request for `lethe worker` (one ledger event): the run happens in the worker, not in this command."""
    from ui.worker import queue_request

    record = queue_request(_services(workspace), request_id, actor.strip() or "cli")
    out.print(f"{request_id}: queued ({record.state}); a running `lethe worker` takes it", highlight=False)


@app.command("serve")
@reasons
def serve(
    address: Annotated[str, typer.Option(help="address the API listens on (another host can reach it only if you "
                                              "say so)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="the API's port")] = 8600,
    workers: Annotated[int, typer.Option(min=1, max=16, help="worker processes running queued requests")] = 1,
    identities: Annotated[Optional[Path], typer.Option(
        help="CSV identity_type,identity_value,subject mapping a DSR tool's identities to subject ids")] = None,
    controller_id: Annotated[str, typer.Option(help="the controller's id in this processor (OpenDSR controller_id)")]
    = "controller",
    processor_domain: Annotated[str, typer.Option(help="this processor's domain, sent with every signed callback")]
    = "localhost",
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Start the HTTP API (OpenDSR intake, status, cancellation; /docs), the worker(s) and the audit scheduler for a
    workspace; Ctrl-C stops all of them."""
    _existing_file(identities, "--identities")
    root = _require_workspace(workspace)
    from ui.serve import serve as run_service

    run_service(root, address, port, workers, identities, controller_id, processor_domain,
                lambda line: err.print(line, highlight=False))


apikey_app = _group("API keys for `lethe serve`: one per caller, each with a role; stored hashed.")
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("add")
@reasons
def apikey_add(
    name: Annotated[str, typer.Argument(help="who uses the key (e.g. fides-prod); the actor of its calls")],
    role: Annotated[str, typer.Option(help="integration (a DSR tool), auditor (read only) or officer")]
    = "integration",
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Make an API key; it is printed once (only its SHA-256 is kept)."""
    from ui._apikeys import add_key

    key = add_key(_ledger(workspace), name, role)
    out.print(key, highlight=False)
    err.print(f"API key {name} ({role}) made; it is shown only now: pass it as 'Authorization: Bearer <key>'",
              highlight=False)


@apikey_app.command("revoke")
@reasons
def apikey_revoke(name: Annotated[str, typer.Argument(help="the key's name")], workspace: Workspace = None,
                  verbose: Verbose = False) -> None:
    """Revoke an API key at once (the next call with it is refused)."""
    from ui._apikeys import revoke_key

    revoke_key(_ledger(workspace), name)
    out.print(f"revoked {name}", highlight=False)


@apikey_app.command("list")
@reasons
def apikey_list(workspace: Workspace = None, verbose: Verbose = False) -> None:
    """The API keys' names and roles (never the keys)."""
    from ui._apikeys import load_keys

    for key in load_keys(_require_workspace(workspace)).values():
        out.print(f"{key.name}  {key.role}", highlight=False)


@app.command("worker")
@reasons
def worker(
    name: Annotated[Optional[str], typer.Option(
        help="the worker's name in logs and ledger events (default worker-<pid>)")] = None,
    poll: Annotated[float, typer.Option(min=0.1, help="seconds between looks at the queue when it is empty")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="run what is queued now, then exit")] = False,
    executor: ExecutorOption = None, ray_address: RayAddress = None,
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Run queued requests until SIGTERM or Ctrl-C (several workers may share a workspace); one log line per
    state change on stderr."""
    _choose_executor(executor, ray_address)
    from ui.worker import Worker

    runner = Worker(_services(workspace, policy), name or f"worker-{os.getpid()}", poll_seconds=poll)
    if once:
        runner.say(f"ran {runner.once()} request(s)")
    else:
        runner.serve_forever()


def _run_and_report(services: Any, request_id: str, actor: str) -> None:
    """Run a request to its end and print its state, verdicts and certificate files (or the reason, exit 1)."""
    from unlearn.progress import TqdmProgress

    record = services.engine.run(request_id, TqdmProgress(), actor=actor)
    out.print(f"{request_id}: {record.state}", highlight=False)
    _print_verification(services.ledger, record)
    final = record.payload(record.state) or {}  # the state's event, not a later annotation (an extension)
    if record.state == "certified":
        _print_certificate(_certificate_paths(services.ledger, record))
    elif "reason" in final:
        err.print(f"reason: {escape(final['reason'])}", highlight=False)
        if record.state == "failed":
            err.print(f"re-plan and run it again with `lethe request retry {request_id} --run`", highlight=False)
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
    _run_and_report(services, request_id, actor.strip())


@deployment_app.command("retire")
@reasons
def deployment_retire(
    deployment_id: Annotated[str, typer.Argument(help="the deployment's id (`lethe ledger lineage` or the console)")],
    reason: Annotated[str, typer.Option(help="why (recorded in the ledger)")] = "training interrupted",
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Retire a deployment whose training was interrupted (a killed `lethe train`; re-running the same `lethe train`
    finishes it instead): its model files are shredded and `deployment.retired` recorded."""
    services = _services(workspace)
    shredded = services.engine.retire(deployment_id, reason, actor="cli")
    out.print(f"retired {deployment_id} ({len(shredded)} model file(s) shredded)", highlight=False)


@request_app.command("show")
@reasons
def request_show(request_id: RequestId, as_json: AsJson = False, workspace: Workspace = None,
                 verbose: Verbose = False) -> None:
    """A request's state, deadline, verdicts, certificate and full event history."""
    ledger = _ledger(workspace)
    from ui._queries import request_summary

    summary = request_summary(ledger, _policy(ledger, None), request_id)
    record = ledger.request(request_id)
    certificate = _certificate_paths(ledger, record)
    if as_json:
        verified = record.payload("verified")
        history = [{key: value for key, value in event.items() if key != "facts"} for event in summary["history"]]
        _echo_json({**summary, "history": history, "certificate": certificate,
                    "report": str(ledger.workspace.root / verified["report_path"]) if verified else None})
        return
    out.print(f"[bold]{escape(request_id)}[/bold]: {summary['state']}", highlight=False)
    out.print(f"  scope:    {escape(summary['scope'])}", highlight=False)
    out.print(f"  received: {_utc(summary['received_at'])}", highlight=False)
    extended = sum(extension.get("months", 0) for extension in summary.get("extensions") or [])
    out.print(f"  deadline: {summary['deadline']}" + (f" (extended by {extended} month(s))" if extended else ""),
              highlight=False)
    if summary.get("note"):
        out.print(f"  note:     {escape(summary['note'])}", highlight=False)
    failure = summary.get("failure")
    if failure:
        out.print(f"  failed:   {escape(failure['reason'])}", highlight=False)
        if failure.get("what_to_do"):
            out.print(f"  to do:    {escape(failure['what_to_do'])}", highlight=False)
    _print_verification(ledger, record)
    _print_certificate(certificate)
    out.print("history:", highlight=False)
    for event in summary["history"]:
        out.print(f"  {event['seq']:>5}  {_utc(event['ts'])}  {event['state']}  by {escape(event['actor'])}",
                  highlight=False)
        for key, value in _brief(event["payload"]).items():
            if key != "request_id":
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                out.print(f"         {key}: {escape(text)}", highlight=False)


@request_app.command("list")
@reasons
def request_list(as_json: AsJson = False, workspace: Workspace = None, verbose: Verbose = False) -> None:
    """Every request with its state, receipt, deadline, scope and legal basis."""
    ledger = _ledger(workspace)
    from ui._queries import request_rows

    rows = request_rows(ledger, _policy(ledger, None))
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        out.print("no requests yet", highlight=False)
    width = max((len(row["state"]) for row in rows), default=0)
    for row in rows:  # two lines each, not a table: ids and dates stay whole at 80 columns
        out.print(f"{row['request_id']}  {row['state']:<{width}}  received {_utc(row['received_at'])}  "
                  f"due {row['deadline']}", highlight=False)
        out.print(f"    {escape(row['scope'])}; basis: {escape(row['basis'])}", highlight=False)
        if row.get("note"):
            out.print(f"    {escape(row['note'])}", highlight=False)


@ledger_app.command("verify")
@reasons
def ledger_verify(
    checkpoint: Annotated[Optional[Path], typer.Option(help="an exported checkpoint note to check the log against")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Recompute the hash chain, bulk digests and signed checkpoints; name the first fault."""
    _existing_file(checkpoint, "--checkpoint")
    ledger = _ledger(workspace)
    from ledger import LedgerIntegrityError, SignedCheckpoint

    external = SignedCheckpoint.read(checkpoint) if checkpoint else None
    result = ledger.verify(external)
    if not result.ok:
        raise LedgerIntegrityError(f"ledger verification failed at seq {result.first_bad_seq}: {result.reason}")
    out.print(f"ledger ok: {result.events_checked} events, head {result.head_hash}", highlight=False)


@ledger_app.command("checkpoint")
@reasons
def ledger_checkpoint(workspace: Workspace = None, verbose: Verbose = False) -> None:
    """Sign the current tree head and export it as a note an auditor can keep."""
    ledger = _ledger(workspace)
    head = ledger.checkpoint()
    out.print(head.to_note(), end="", highlight=False)
    err.print(f"saved {ledger.workspace.root / 'checkpoints' / f'{head.tree_size}.note'}", highlight=False)


@ledger_app.command("witness")
@reasons
def ledger_witness(
    state: Annotated[Path, typer.Option(help="the witness's own folder: its key and the last checkpoint it cosigned "
                                             "per log (keep it away from the workspace)")],
    name: Annotated[Optional[str], typer.Option(help="the witness's name when its key is created "
                                                     "(default lethe-witness/<host>)")] = None,
    log_vkey: Annotated[Optional[Path], typer.Option(help="the ledger's verifier key, pinned the first time "
                                                          "(default: the workspace's keys/signing.vkey)")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Cosign the ledger's latest checkpoint as a witness, only if it extends the last one this witness cosigned."""
    _existing_file(log_vkey, "--log-vkey")
    ledger = _ledger(workspace)
    from ledger import consistency_proof
    from verify.standalone import parse_vkey
    from verify.witness import Witness, export_cosigned

    witness = Witness.open(state, name)
    head = ledger.checkpoint()
    pinned = witness.pinned_log_key(head.origin)
    if pinned is not None and log_vkey is None:
        log = pinned  # never the workspace's key file once pinned: whoever holds the workspace could swap it
    else:
        log = parse_vkey((log_vkey or ledger.workspace.root / "keys" / "signing.vkey").read_text(encoding="utf-8"))
        if pinned is None and log_vkey is None:
            err.print(f"pinned the ledger's key {log.name} from the workspace (trust on first use; pass --log-vkey "
                      "to pin a key you obtained separately)", highlight=False)
    last = witness.last_cosigned(head.origin)
    proof = []
    if last is not None and 0 < last.tree_size < head.tree_size:
        proof = consistency_proof(last.tree_size, ledger.log.leaf_hashes(head.tree_size))
    cosigned = witness.cosign(head.to_note(), log, proof)
    exported = export_cosigned(ledger.workspace.root / "checkpoints", cosigned)
    out.print(cosigned, end="", highlight=False)
    since = (" (first cosignature of this log)" if last is None else " (the tree it cosigned before)"
             if last.tree_size == head.tree_size else f" (it extends size {last.tree_size}, cosigned before)")
    err.print(f"witness {witness.name} cosigned size {head.tree_size} of {head.origin}{since}; wrote {exported}; "
              f"its verifier key: {state / 'witness.vkey'}", highlight=False)


@ledger_app.command("consistency")
@reasons
def ledger_consistency(
    from_size: Annotated[int, typer.Option("--from", help="the older tree size (e.g. a certificate's, or your checkpoint's)")],
    to_size: Annotated[Optional[int], typer.Option("--to", help="the newer tree size (default: the whole log)")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", help="write the proof here instead of stdout")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """The RFC 9162 consistency proof between two tree sizes, one base64 hash a line: what verify/standalone.py
    takes as --consistency-proof or --witnessed-proof."""
    ledger = _ledger(workspace)
    from ledger import consistency_proof

    leaves = ledger.log.leaf_hashes()
    size = len(leaves) if to_size is None else to_size
    if not 0 < from_size <= size <= len(leaves):
        raise UsageProblem(f"no consistency proof from size {from_size} to {size}: the log holds {len(leaves)} events")
    text = "".join(base64.b64encode(node).decode() + "\n" for node in consistency_proof(from_size, leaves[:size]))
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)
    else:
        typer.echo(text, nl=False)


@ledger_app.command("prove")
@reasons
def ledger_prove(
    request: Annotated[str, typer.Option(help="request id whose events to prove")],
    output: Annotated[Optional[Path], typer.Option("--out", help="write the bundle here instead of stdout")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Inclusion proofs of a request's events against a freshly signed checkpoint (JSON)."""
    ledger = _ledger(workspace)
    from ledger import bundle_json

    text = bundle_json(ledger.prove_request(request))
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {output}", highlight=False)
    else:
        typer.echo(text)


@ledger_app.command("lineage")
@reasons
def ledger_lineage(
    subject: Annotated[Optional[str], typer.Option(help="a data subject's id")] = None,
    checkpoint: Annotated[Optional[str], typer.Option(help="a checkpoint id")] = None,
    as_json: AsJson = False,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Where a subject's interactions went (shards, checkpoints, erasures), or a checkpoint's parent chain."""
    if (subject is None) == (checkpoint is None):
        raise ValueError("give exactly one of --subject or --checkpoint")
    ledger = _ledger(workspace)
    if checkpoint is not None:  # one block per checkpoint, newest first: ids and digests stay whole at 80 columns
        chain = ledger.checkpoint_lineage(checkpoint)
        if as_json:  # each checkpoint's recorded payload and its event's seq
            _echo_json([{**record.payload(), "seq": record.seq} for record in chain])
            return
        for record in chain:
            out.print(f"{record.checkpoint_id}: {record.n_interactions:,} training interactions", highlight=False)
            out.print(f"    parent:              {record.parent or '-'}", highlight=False)
            out.print(f"    training-set digest: {record.training_set_digest}", highlight=False)
            out.print(f"    excludes requests:   {', '.join(record.excludes_requests) or '-'}", highlight=False)
        return
    result = ledger.subject_lineage(subject)
    if as_json:
        _echo_json(result)
        return
    out.print(f"subject ref {result['subject_ref']}: {len(result['interaction_ids'])} interaction id(s); "
              f"raw data in store: {'yes' if result['data_in_store'] else 'no (erased)'}", highlight=False)
    groups: dict[tuple, list[dict]] = {}
    for row in result["placements"]:
        groups.setdefault((row["deployment_id"], row["serving"]), []).append(row)
    for (deployment_id, serving), rows in groups.items():
        out.print(f"deployment {deployment_id}" + (" (serving)" if serving else ""), highlight=False)
        shards: dict[tuple, list[dict]] = {}
        for row in rows:
            shards.setdefault((row["shard"], row["checkpoint"]), []).append(row)
        for (shard, checkpoint_id), placed in shards.items():
            out.print(f"    shard {shard}: live checkpoint {checkpoint_id or '-'}; {len(placed)} interaction(s), "
                      f"{sum(r['in_training_set'] for r in placed)} still trained on", highlight=False)
    for request in result["requests"]:
        out.print(f"request {request['request_id']}: {request['state']} (received {_utc(request['received_at'])})",
                  highlight=False)


def _certificate_file(path: Path) -> Path:
    """The certificate's JSON file, or a usage error that says which file to pass instead."""
    if not path.is_file():
        raise UsageProblem(f"{path}: no such file (pass the certificate's JSON file, "
                           "WORKSPACE/certificates/cert-….json)")
    with path.open("rb") as handle:
        head = handle.read(5)
    if head.startswith(b"%PDF"):
        raise UsageProblem(f"{path} is the certificate's PDF, which is for reading; to verify it, pass its JSON file "
                           f"({path.with_suffix('.json').name}, beside it)")
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageProblem(f"{path} is not a certificate's JSON file (it is not text); pass cert-….json") from None
    return path


def _public_key(public_key: Path | None, workspace: Path | None) -> Any:
    """The Ed25519 key to check with: ``--public-key``, else the workspace's; a missing or wrong file is bad usage."""
    if public_key is None:
        public_key = _root(workspace) / "keys" / "signing.pub"
        if not public_key.is_file():
            raise UsageProblem(f"no --public-key given, and no workspace key at {public_key}: pass --public-key "
                               "(the signer's signing.pub)")
    elif not public_key.is_file():
        raise UsageProblem(f"public key file not found: {public_key} (--public-key)")
    from ledger import SignatureError, load_public_key

    try:
        return load_public_key(public_key)
    except SignatureError as exc:  # not a key at all: the wrong file was given
        raise UsageProblem(f"{exc} (--public-key)") from None


@certificate_app.command("verify")
@reasons
def certificate_verify(
    certificate: Annotated[Path, typer.Argument(help="the certificate's JSON file (cert-….json, not the PDF)")],
    public_key: Annotated[Optional[Path], typer.Option(help="PEM public key (default: the workspace's)")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(
        help="your signed checkpoint note of the same log: the same size, or an older one (with --workspace)")] = None,
    witness_vkey: Annotated[Optional[list[Path]], typer.Option(
        help="a witness's verifier key: its cosignature is required, on the certificate's checkpoint or on a later "
             "one in the workspace's checkpoints/ (with --workspace); repeat for several")] = None,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Check a certificate offline: signature, content, and its ledger inclusion proof (public key only)."""
    _certificate_file(certificate)
    _existing_file(checkpoint, "--checkpoint")
    for path in witness_vkey or []:
        _existing_file(path, "--witness-vkey")
    key = _public_key(public_key, workspace)
    from ledger import NoteVerifier, SignedCheckpoint
    from verify import verify_certificate_file
    from verify.standalone import parse_vkey
    from verify.witness import find_witnessed

    external = SignedCheckpoint.read(checkpoint) if checkpoint else None
    witnesses = tuple(parse_vkey(path.read_text(encoding="utf-8")) for path in witness_vkey or [])
    # An older checkpoint of the auditor's, or a later witnessed one, needs a consistency proof from or to the
    # certificate's: the workspace's ledger computes it (verify/standalone.py says why it is not in the certificate).
    leaves, witnessed = None, None
    if workspace is not None and (external is not None or witnesses):
        ledger = _ledger(workspace)
        leaves = ledger.log.leaf_hashes
        log_key = NoteVerifier.for_key(key)

        witnessed = partial(find_witnessed, ledger.workspace.root / "checkpoints", log_key, witnesses,
                            leaf_hashes=leaves)
    cert = verify_certificate_file(certificate, key, external, leaves, witnesses, witnessed)
    verdict = "PASSED" if cert.passed else "FAILED"
    out.print(f"certificate {cert.certificate_id} is authentic: request {cert.request_id}, method {cert.method}, "
              f"verification {verdict}, signed by key {cert.key_fingerprint[:16]}…; its "
              f"{len(cert.inclusion_proof['events'])} ledger events are included in the signed checkpoint of size "
              f"{cert.ledger_checkpoint['tree_size']}"
              + (f", and {len(witnesses)} witness(es) cosigned it or a later checkpoint extending it" if witnesses
                 else ""), highlight=False)
    _print_checks(cert.verdicts)


@user_app.command("add")
@reasons
def user_add(
    name: Annotated[str, typer.Argument(help="the user's sign-in name")],
    role: Annotated[str, typer.Option(help="officer (files and runs requests) or auditor (reads, verifies, audits)")],
    replace: Annotated[bool, typer.Option(help="change an existing user's role and password")] = False,
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Add a console user; prompts for the password (kept as an argon2id hash in the workspace's users.toml)."""
    from pydantic import ValidationError

    from ui._access import MIN_PASSWORD_LENGTH, AccessError, User, add_user

    try:  # name and role first, so a wrong one neither prompts nor creates a workspace
        User(name=name, role=role, password_hash="unset")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AccessError(f"{first['loc'][0]}: {first['msg']}") from None
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user = add_user(_ledger(workspace, create=True), name, role, password, replace=replace)
    out.print(f"{'updated' if replace else 'added'} {user.role} {user.name!r}", highlight=False)


@app.command()
@reasons
def console(
    workspace: Workspace = None,
    port: Annotated[int, typer.Option(help="port the console listens on (http://localhost:PORT)")] = 8501,
    address: Annotated[str, typer.Option(
        help="address the console listens on; the default serves this machine only (0.0.0.0: every interface)")]
    = "127.0.0.1",
    idle_minutes: Annotated[Optional[float], typer.Option(
        min=1, help="sign a session out after this many idle minutes [default: 480, a working day]")] = None,
    worker: Annotated[bool, typer.Option(
        "--worker/--no-worker", help="also run a worker for the requests the console queues (--no-worker when "
                                     "`lethe serve` or another `lethe worker` runs them)")] = True,
    verbose: Verbose = False,
) -> None:
    """Start the Streamlit console for privacy officers and auditors, and a worker that runs what it queues;
    Ctrl-C or SIGTERM stops both (nothing is left serving the port)."""
    from ui._access import DEFAULT_IDLE_MINUTES, IDLE_MINUTES_ENV
    from ui._processes import children

    root = _root(workspace)
    env = {**os.environ, "LETHE_HOME": str(root), IDLE_MINUTES_ENV: str(idle_minutes or DEFAULT_IDLE_MINUTES)}
    commands = [[sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name("app.py")),
                 "--server.port", str(port), "--server.address", address, "--browser.gatherUsageStats", "false",
                 "--client.toolbarMode", "minimal"]]  # no Deploy button or developer menu, from the first load
    if worker:
        commands.append([sys.executable, "-m", "ui.cli", "worker", "-w", str(root), "--name", "console-worker"])
    try:
        with children(commands, env) as started:
            code = started[0].wait()
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


@request_app.command("extend")
@reasons
def request_extend(
    request_id: RequestId,
    months: Annotated[int, typer.Option(help="months to add to the deadline (total at most the policy's maximum)")],
    reason: Annotated[str, typer.Option(help="why the extension is needed (told to the subject, Art. 12(3))")],
    role: Annotated[str, typer.Option(help="role approving the extension (see the policy's approvers)")] = "officer",
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Extend an open request's GDPR deadline by up to the policy's maximum, with a recorded reason."""
    services = _services(workspace, policy)
    record = services.engine.extend(request_id, months, reason, actor="cli", role=role)
    out.print(f"{request_id}: due {services.policy.deadlines.due_date(record).isoformat()} "
              f"(extended by {record.extension_months} month(s) in total)", highlight=False)


@request_app.command("assign")
@reasons
def request_assign(
    request_id: RequestId, assignee: Annotated[str, typer.Argument(help="the officer responsible for it")],
    actor: Actor = "cli", workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Make an officer responsible for an open request (`request.assigned`)."""
    services = _services(workspace, policy)
    from unlearn.workflow import assign

    assign(services.ledger, services.policy, request_id, assignee, actor)
    out.print(f"{request_id}: assigned to {assignee.strip()}", markup=False, highlight=False)


@request_app.command("verify-identity")
@reasons
def request_verify_identity(
    request_id: RequestId,
    method: Annotated[str, typer.Option(help="how the identity was verified: one of the policy's "
                                             "workflow.identity_methods")],
    note: Annotated[str, typer.Option(help="what was checked, in words (never a copy of the document)")] = "",
    actor: Actor = "cli", workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Record how the subject's identity was verified, before the request runs (`request.identity_verified`)."""
    services = _services(workspace, policy)
    from unlearn.workflow import record_identity

    record_identity(services.ledger, services.policy, request_id, method, actor, note)
    out.print(f"{request_id}: identity verified ({method}) by {actor.strip()}", markup=False, highlight=False)


@request_app.command("approve")
@reasons
def request_approve(
    request_id: RequestId,
    role: Annotated[str, typer.Option(help="the approver's role (see the policy's approvers.run_request)")] = "officer",
    actor: Actor = "cli", workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Approve running a request as a second person (`request.approved`; not its filer nor its identity verifier)."""
    services = _services(workspace, policy)
    from unlearn.workflow import approve

    approve(services.ledger, services.policy, request_id, actor, role)
    out.print(f"{request_id}: approved by {actor.strip()} ({role})", markup=False, highlight=False)


@request_app.command("close")
@reasons
def request_close(
    request_id: RequestId,
    outcome: Annotated[str, typer.Option(help="refused (the request is not granted) or closed (withdrawn, "
                                              "answered elsewhere)")],
    reason: Annotated[str, typer.Option(help="why (the subject is told it)")],
    actor: Actor = "cli", workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Refuse or close a request nothing has run on yet, with the reason (`request.rejected`)."""
    services = _services(workspace, policy)
    from unlearn.workflow import close

    close(services.ledger, services.policy, request_id, outcome, reason, actor)  # type: ignore[arg-type]
    out.print(f"{request_id}: {outcome}", markup=False, highlight=False)


@request_app.command("letter")
@reasons
def request_letter(
    request_id: RequestId,
    kind: Annotated[str, typer.Argument(help="acknowledgement, extension, completion or refusal (what the request's "
                                             "state allows)")],
    actor: Actor = "cli", workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Write a letter to the data subject as PDF from the organisation's templates and print its path
    (`request.letter_issued`); Lethe never sends it."""
    services = _services(workspace, policy)
    from ui.letters import issue_letter

    record = services.engine.require(request_id)
    letter = issue_letter(services.ledger, services.policy, record, kind, actor.strip())
    out.print(str(letter.path), markup=False, highlight=False)


@audit_app.command("run")
@reasons
def audit_run(
    window_days: Annotated[Optional[int], typer.Option(min=1, help="days of erasures to re-check (default: policy)")] = None,
    as_json: AsJson = False,
    role: Annotated[str, typer.Option(help="role running the audit (see the policy's approvers)")] = "auditor",
    executor: ExecutorOption = None, ray_address: RayAddress = None,
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Audit now (for cron): ledger, re-contamination, the window's erasures, deadlines. Exit 1 if a check fails,
    3 if the ledger or a live model file fails its integrity check."""
    _choose_executor(executor, ray_address)
    services = _services(workspace, policy)
    from unlearn.progress import TqdmProgress
    from verify import audit_report_path, run_audit

    report = run_audit(services.ledger, services.policy, window_days=window_days, role=role, actor="cli",
                       progress=TqdmProgress())
    path = audit_report_path(services.ledger.workspace.root, report.audit_id)
    if as_json:
        _echo_json({**report.model_dump(mode="json"), "report_path": str(path)})
    else:
        table = Table("check", "result", "detail", title=f"{report.audit_id} ({report.window_days}-day window)")
        table.columns[0].no_wrap = table.columns[1].no_wrap = True
        for check in report.checks:
            table.add_row(check.name, "[green]pass[/green]" if check.passed else "[red]FAIL[/red]",
                          escape(check.detail))
        out.print(table)
        for check in report.checks:
            for finding in check.findings:
                (out if check.passed else err).print(f"{check.name}: {escape(finding)}", highlight=False)
        out.print(f"signed report: {path}", highlight=False)
    if not report.passed:
        err.print(f"[red]audit failed:[/red] {escape(', '.join(report.failed_checks))}", highlight=False)
        raise typer.Exit(3 if "ledger integrity" in report.failed_checks else 1)  # 3: an integrity fault


@audit_app.command("schedule")
@reasons
def audit_schedule(
    role: Annotated[str, typer.Option(help="role the scheduled audits run as")] = "auditor",
    workspace: Workspace = None, policy: PolicyOption = None, verbose: Verbose = False,
) -> None:
    """Run the audit on the policy's cron (UTC) until Ctrl-C; each run re-reads the policy in force."""
    from ui._scheduler import JOB_ID, build_scheduler

    # Not required to exist yet: a scheduler may be set up before the first ingest (its audits then find nothing).
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
def policy_show(as_json: AsJson = False, workspace: Workspace = None, policy: PolicyOption = None,
                verbose: Verbose = False) -> None:
    """The policy in force (its digest, and whether the ledger has recorded it)."""
    ledger = _ledger(workspace)
    from policies import recorded_policy

    in_force = _policy(ledger, policy)
    recorded = recorded_policy(ledger)
    document = {**in_force.document(), "digest": in_force.digest,
                "recorded_in_ledger": recorded is not None and recorded["digest"] == in_force.digest}
    if as_json:
        _echo_json(document)
        return
    import yaml

    out.print(yaml.safe_dump(document, sort_keys=False), highlight=False, markup=False)


@policy_app.command("activate")
@reasons
def policy_activate(
    path: Annotated[Path, typer.Argument(help="the policy YAML file to put in force")],
    role: Annotated[str, typer.Option(help="role approving the change (checked against the policy in force)")] = "officer",
    workspace: Workspace = None, verbose: Verbose = False,
) -> None:
    """Validate a policy file, make it the workspace's policy in force, and record it in the ledger."""
    _existing_file(path, "PATH")
    ledger = _ledger(workspace)
    from policies import activate_policy, load_policy

    _routed_to_registered(load_policy(path))
    activated = activate_policy(ledger, path, role, actor="cli")
    out.print(f"policy {activated.name!r} v{activated.version} in force: {activated.digest}", highlight=False)


@app.command()
@reasons
def register(
    framework: Annotated[str, typer.Option(help="implicit-als, implicit-bpr, sklearn-svd, sklearn-nmf or torch")],
    model: Annotated[Path, typer.Option(help="the trained model file the framework saved")],
    data: Annotated[Optional[Path], typer.Option(help="its training interactions (CSV/Parquet; default: the "
                                                      "workspace's whole training split)")] = None,
    test_data: Annotated[Optional[Path], typer.Option(help="held-out interactions (an empty workspace only)")] = None,
    user_col: Annotated[Optional[str], typer.Option(
        help="the user id column of --data/--test-data [default: user_id]")] = None,
    item_col: Annotated[Optional[str], typer.Option(help="the item id column [default: item_id]")] = None,
    rating_col: Annotated[Optional[str], typer.Option(
        help="the rating column [default: 'rating' if the file has one]")] = None,
    time_col: Annotated[Optional[str], typer.Option(
        help="the unix-seconds time column [default: 'timestamp' if the file has one]")] = None,
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
    raw = {}
    for name, path in (("data", data), ("test_data", test_data)):
        raw[name] = None
        if path is not None:
            columns, notes = _csv_mapping(path, user_col, item_col, rating_col, time_col)
            raw[name] = _load("csv", path, columns)
            for note in notes:
                err.print(f"note: {path.name}: {escape(note)}", highlight=False)
    ids = {name: _existing_file(path, f"--{name.replace('_', '-')}").read_text(encoding="utf-8").split() if path
           else None for name, path in (("user_ids", user_ids), ("item_ids", item_ids))}
    services = _services(workspace, create=True)
    from unlearn.methods import applicable_methods, register_model

    deployment = register_model(services.ledger, framework, model, raw["data"], raw["test_data"],
                                params=_parse_options(param or []), method=method, seed=seed, serve=serve,
                                actor="cli", **ids)
    record = deployment.checkpoints[0]
    out.print(f"registered {deployment.deployment_id}: {record.n_interactions:,} training interactions, "
              f"artifact {record.artifact_sha256}" + (", now serving" if serve else ""), highlight=False)
    table = Table("method", "applies", "exact", "reason", title=f"methods for {framework}")
    for verdict in applicable_methods(framework):
        table.add_row(verdict.method, "yes" if verdict.applies else "no", "yes" if verdict.exact else "no",
                      escape(verdict.reason))
    out.print(table)


def main() -> None:
    """The ``lethe`` command: the app, with click's usage errors (an unknown option, a value that does not parse)
    printed as one line like every other error, not click's three-line block. The thread policy is set first,
    before any command loads torch or numba, and the processes a command starts inherit it."""
    from unlearn.threads import apply_thread_policy

    apply_thread_policy()
    try:
        code = app(standalone_mode=False)
    except Exception as exc:  # click's UsageError and kin; typer vendors click, so they are known by their shape
        if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group (`lethe request`): its help, as click shows it
            err.print(exc.format_message(), highlight=False, markup=False)
            sys.exit(exc.exit_code)
        context = getattr(exc, "ctx", None)
        hint = f"; see `{context.command_path} --help`" if context is not None else ""
        err.print(f"[red]error:[/red] {escape(exc.format_message())}{hint}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
