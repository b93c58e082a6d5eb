"""Plotly figures of the console: request states, a report's metrics, RBO and ROC curves, shard sizes."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ledger import Ledger
from verify import VerificationReport
from verify.names import (
    LATENT_METRICS,
    ORIGINAL,
    RECSYS_ATTACK,
    REFERENCE,
    REPREDICT,
    RETRAIN_STAR,
    SCORE_ATTACK,
    UNLEARNED,
    mia_key,
    recall_key,
)

CHART_METRICS = (REPREDICT, mia_key(SCORE_ATTACK), mia_key(RECSYS_ATTACK), recall_key(20))
"""Metrics plotted side by side for every model the report compares."""
MODEL_COLORS = {ORIGINAL: "#1f77b4", UNLEARNED: "#d62728", REFERENCE: "#2ca02c", RETRAIN_STAR: "#9467bd"}
"""One colour per model across every plot of a report (plotly's cycle would recolour them per subplot)."""


def state_counts_figure(counts: dict[str, int]) -> go.Figure:
    """Requests per state as horizontal bars, lifecycle order top to bottom."""
    figure = go.Figure(go.Bar(x=list(counts.values()), y=list(counts), orientation="h", text=list(counts.values())))
    figure.update_layout(height=120 + 28 * len(counts), margin={"t": 40, "b": 30}, xaxis_title="requests",
                         yaxis={"autorange": "reversed", "title": "state"}, title="Requests by state")
    return figure


def _grouped_bars(metrics: dict[str, dict[str, float]], names: tuple[str, ...], axis: str, title: str) -> go.Figure:
    """One group per metric, one bar per model (original / unlearned / reference / Retrain*), each bar labelled with
    its value: a bar of height 0 then reads "0.000", not as missing data."""
    shown = [n for n in names if any(n in values for values in metrics.values())]
    figure = go.Figure(
        [go.Bar(name=model, x=shown, y=[values.get(n) for n in shown], marker_color=MODEL_COLORS.get(model),
                text=[("n/a" if values.get(n) is None else f"{values[n]:.3f}") for n in shown],
                textposition="outside", cliponaxis=False)
         for model, values in metrics.items()]
    )
    figure.update_layout(barmode="group", yaxis_title=axis, xaxis_title="metric", legend_title="model", height=380,
                         title=title, margin={"t": 60})
    return figure


def metrics_figure(metrics: dict[str, dict[str, float]]) -> go.Figure:
    """Re-predict score, both attacks' AUC and utility, per model."""
    return _grouped_bars(metrics, CHART_METRICS, "value (0 to 1)",
                         "Re-predict score, attack AUC and Recall@20, per model")


def latent_figure(metrics: dict[str, dict[str, float]]) -> go.Figure:
    """Procrustes distances to the reference (forgetting users, affected items) and the items' CKA, per model."""
    return _grouped_bars(metrics, LATENT_METRICS, "distance (RMS embedding norms) / CKA",
                         "Embeddings compared with the reference after Procrustes alignment")


def rbo_figure(report: VerificationReport) -> go.Figure:
    """Distribution of per-user RBO with the reference's top-k, forgetting users and other users side by side."""
    assert report.figures is not None
    groups = list(report.figures.rbo)
    users = {g: max((sum(c) for c in report.figures.rbo[g].counts.values()), default=0) for g in groups}
    figure = make_subplots(rows=1, cols=len(groups), shared_yaxes=False,  # one user's bars stay readable
                           subplot_titles=[f"{g} ({users[g]} user(s))" for g in groups])
    for column, group in enumerate(groups, start=1):
        histogram = report.figures.rbo[group]
        centres = [(a + b) / 2 for a, b in zip(histogram.edges, histogram.edges[1:])]
        for model, counts in histogram.counts.items():
            figure.add_trace(go.Bar(name=model, x=centres, y=counts, legendgroup=model, showlegend=column == 1,
                                    marker_color=MODEL_COLORS.get(model)),
                             row=1, col=column)
        figure.update_xaxes(title_text=f"RBO@{report.figures.rbo_depth} (1 = the reference's list)", range=[0, 1.02],
                            row=1, col=column)
    figure.update_yaxes(title_text="users")
    figure.update_layout(barmode="group", height=360, legend_title="model", margin={"t": 70},
                         title=f"How close each user's top-{report.figures.rbo_depth} is to the reference's")
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
                                        line_color=MODEL_COLORS.get(model),
                                        showlegend=column == 1, line_shape="hv"), row=1, col=column)
        figure.update_xaxes(title_text="false-positive rate", row=1, col=column)
    figure.update_yaxes(title_text="true-positive rate", row=1, col=1)
    figure.update_layout(height=380, legend_title="model", margin={"t": 70},
                         title="Membership attacks: can the model tell the erased interactions apart? (ROC)")
    return figure


def shard_sizes_figure(ledger: Ledger) -> go.Figure:
    """Interactions assigned to each shard (or group), per deployment: how evenly the method split the data."""
    figure = go.Figure(
        [
            go.Bar(name=d.deployment_id, x=[f"shard {i}" for i in range(len(d.shard_sizes))], y=d.shard_sizes)
            for d in ledger.deployments()
        ]
    )
    figure.update_layout(barmode="group", yaxis_title="training interactions", xaxis_title="shard (index)",
                         legend_title="deployment", height=360, title="Training interactions per shard")
    return figure
