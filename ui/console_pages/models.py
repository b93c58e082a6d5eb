"""Models & lineage: every deployment, how its shards split the data, the checkpoint serving each shard, and
any checkpoint's parent chain back to its first training."""

from __future__ import annotations

import streamlit as st

from ui._tables import checkpoint_rows, deployment_rows, parent_chain_rows, shard_sizes_figure
from ui._views import page_user, services

page_user()
ledger = services().ledger

st.title("Models & lineage")
rows = deployment_rows(ledger)
if not rows:
    st.info("No deployment trained yet; run `lethe train`.")
    st.stop()
st.dataframe(rows, hide_index=True, key="deployments")
st.plotly_chart(shard_sizes_figure(ledger), key="chart_shard_sizes")

st.subheader("Live checkpoints")
live: list[str] = []
for row in rows:
    checkpoints = checkpoint_rows(ledger, row["deployment"])
    live.extend(c["checkpoint"] for c in checkpoints)
    with st.expander(f"{row['deployment']} ({row['method']}{', serving' if row['serving'] else ''})",
                     expanded=row["serving"]):
        st.dataframe(checkpoints, hide_index=True)

st.subheader("Parent chain")
chosen = st.selectbox("Checkpoint", live, key="lineage_checkpoint")
st.dataframe(parent_chain_rows(ledger, chosen), hide_index=True, key="parent_chain")
