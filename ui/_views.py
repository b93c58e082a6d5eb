"""Small view helpers for the console pages: the shared services, error boxes, progress, tables and charts.

Pages stay a list of calls; anything that shapes data for a widget lives here so it can be read and tested
without Streamlit running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from pydantic import ValidationError

from ledger import Ledger, LetheError, RequestRecord, default_workspace_path
from ui._reports import event_facts
from ui._services import Services, open_services
from unlearn.methods import DeploymentPlan
from verify import VerificationReport, load_report

CHART_METRICS = ("re-predict", "mia score auc", "mia recsys auc", "recall@20")
"""Metrics plotted side by side for every model the report compares."""
LATENT_METRICS = ("latent users", "latent items", "cka items")


@st.cache_resource(show_spinner=False)
def _open_services(workspace: str) -> Services:
    return open_services(workspace)


def services() -> Services:
    """The services of the workspace in ``$LETHE_HOME``, opened once per process and keyed by its path, so a
    console (or a test) pointed at another workspace never sees the previous one's ledger."""
    return _open_services(str(default_workspace_path().resolve()))


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc']) or 'input'}: {first['msg']}"
    return str(exc)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Show Lethe's expected failures and rejected input as an error box; anything else is a bug and raises."""
    try:
        yield
    except (LetheError, ValidationError) as exc:
        st.error(_message(exc))


class StreamlitProgress:
    """The engine's progress callback drawn as one progress bar whose text names the current stage."""

    def __init__(self) -> None:
        self._bar = st.progress(0.0, text="starting")

    def __call__(self, stage: str, done: int, total: int) -> None:
        self._bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{stage}: {done}/{total}")


def history_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """A request's events from :func:`ui._reports.request_summary`, without the raw payloads."""
    return [
        {"seq": e["seq"], "time": e["ts"][:19], "state": e["state"], "actor": e["actor"], "facts": e["facts"]}
        for e in summary["history"]
    ]


def plan_rows(plans: list[DeploymentPlan]) -> list[dict[str, Any]]:
    """What a request would cost each deployment: shards hit and the share of training data to retrain."""
    return [
        {
            "deployment": plan.deployment_id,
            "method": plan.method,
            "exact": plan.exact,
            "shards hit": ", ".join(str(s.shard) for s in plan.shards),
            "interactions hit": plan.interactions_hit,
            "training interactions": plan.training_interactions,
            "estimated cost": f"{plan.estimated_cost_fraction:.1%}",
        }
        for plan in plans
    ]


def verified_report(ledger: Ledger, record: RequestRecord) -> VerificationReport | None:
    """The request's verification report, only if its signature verifies with the workspace key."""
    verified = record.payload("verified")
    if verified is None:
        return None
    workspace = ledger.workspace
    return load_report(workspace.root / verified["report_path"], workspace.signer.public_key).predicate


def check_rows(report: VerificationReport) -> list[dict[str, Any]]:
    return [
        {
            "check": check.name,
            "verdict": "PASS" if check.passed else "FAIL",
            "value": check.value,
            "threshold": "" if check.threshold is None else f"{check.comparison} {check.threshold:.4f}",
            "detail": check.detail,
        }
        for check in report.checks
    ]


def _grouped_bars(metrics: dict[str, dict[str, float]], names: tuple[str, ...], axis: str) -> go.Figure:
    """One group per metric, one bar per model (original / unlearned / reference / Retrain*)."""
    shown = [n for n in names if any(n in values for values in metrics.values())]
    figure = go.Figure(
        [go.Bar(name=model, x=shown, y=[values.get(n) for n in shown]) for model, values in metrics.items()]
    )
    figure.update_layout(barmode="group", yaxis_title=axis, legend_title="model", height=360)
    return figure


def metrics_figure(metrics: dict[str, dict[str, float]]) -> go.Figure:
    """Re-predict score, both attacks' AUC and utility, per model."""
    return _grouped_bars(metrics, CHART_METRICS, "value")


def latent_figure(metrics: dict[str, dict[str, float]]) -> go.Figure:
    """Procrustes distances to the reference (forgetting users, affected items) and the items' CKA, per model."""
    return _grouped_bars(metrics, LATENT_METRICS, "distance (RMS embedding norms) / CKA")


def rbo_figure(report: VerificationReport) -> go.Figure:
    """Distribution of per-user RBO with the reference's top-k, forgetting users and other users side by side."""
    assert report.figures is not None
    groups = list(report.figures.rbo)
    figure = make_subplots(rows=1, cols=len(groups), subplot_titles=groups, shared_yaxes=True)
    for column, group in enumerate(groups, start=1):
        histogram = report.figures.rbo[group]
        centres = [(a + b) / 2 for a, b in zip(histogram.edges, histogram.edges[1:])]
        for model, counts in histogram.counts.items():
            figure.add_trace(go.Bar(name=model, x=centres, y=counts, legendgroup=model, showlegend=column == 1),
                             row=1, col=column)
    figure.update_layout(barmode="group", height=340, legend_title="model",
                         title=f"RBO@{report.figures.rbo_depth} with the reference, per user")
    return figure


def mia_figure(report: VerificationReport) -> go.Figure:
    """ROC of each membership attack for the original, unlearned and reference models (diagonal: chance)."""
    assert report.figures is not None
    attacks = list(report.figures.mia)
    figure = make_subplots(rows=1, cols=len(attacks), subplot_titles=[f"{a} attack" for a in attacks])
    for column, attack in enumerate(attacks, start=1):
        curves = report.figures.mia[attack]
        figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                                    name="chance", showlegend=column == 1), row=1, col=column)
        for model, tpr in curves.tpr.items():
            figure.add_trace(go.Scatter(x=curves.fpr, y=tpr, mode="lines", name=model, legendgroup=model,
                                        showlegend=column == 1, line_shape="hv"), row=1, col=column)
        figure.update_xaxes(title_text="false-positive rate", row=1, col=column)
    figure.update_yaxes(title_text="true-positive rate", row=1, col=1)
    figure.update_layout(height=360, legend_title="model")
    return figure


def certificate_files(ledger: Ledger, record: RequestRecord) -> dict[str, Path]:
    """``{"pdf": path, "json": path}`` of a certified request's certificate; empty otherwise."""
    certified = record.payload("certified")
    if certified is None:
        return {}
    root = ledger.workspace.root
    return {"pdf": root / certified["pdf_path"], "json": root / certified["json_path"]}


def deployment_rows(ledger: Ledger) -> list[dict[str, Any]]:
    return [
        {
            "deployment": d["deployment_id"],
            "method": d["method"],
            "exact": d["exact"],
            "shards": d["settings"]["shards"],
            "serving": d["serving"],
            "shard sizes": ", ".join(str(n) for n in d["shard_sizes"]),
        }
        for d in ledger.deployments()
    ]


def shard_sizes_figure(ledger: Ledger) -> go.Figure:
    """Interactions assigned to each shard, grouped by deployment: how evenly SISA split the data."""
    figure = go.Figure(
        [
            go.Bar(name=d["deployment_id"], x=[f"shard {i}" for i in range(len(d["shard_sizes"]))], y=d["shard_sizes"])
            for d in ledger.deployments()
        ]
    )
    figure.update_layout(barmode="group", yaxis_title="interactions", legend_title="deployment", height=340)
    return figure


def checkpoint_rows(ledger: Ledger, deployment_id: str) -> list[dict[str, Any]]:
    """The checkpoint serving each shard now, with its parent: the lineage after every erasure so far."""
    return [
        {
            "shard": shard,
            "checkpoint": c["checkpoint_id"],
            "parent": c["parent"],
            "artifact sha256": c["artifact_sha256"],
            "interactions": c["n_interactions"],
            "train seconds": c["train_seconds"],
        }
        for shard, c in sorted(ledger.live_checkpoints(deployment_id).items())
    ]


def latest_event_rows(ledger: Ledger, n: int = 50) -> list[dict[str, Any]]:
    """The newest ``n`` events, newest first."""
    return [
        {"seq": e.seq, "time": e.ts[:19], "kind": e.kind, "actor": e.actor, "facts": event_facts(e.payload)}
        for e in ledger.recent_events(n)
    ]
