"""Models & lineage: every deployment, how its shards split the data, and the checkpoint serving each shard."""

from __future__ import annotations

import streamlit as st

from ui._views import checkpoint_rows, deployment_rows, services, shard_sizes_figure

ledger = services().ledger

st.title("Models & lineage")
rows = deployment_rows(ledger)
if not rows:
    st.info("No deployment trained yet; run `lethe train`.")
    st.stop()
st.dataframe(rows, hide_index=True)
st.plotly_chart(shard_sizes_figure(ledger))

st.subheader("Live checkpoints")
for row in rows:
    with st.expander(f"{row['deployment']} ({row['method']}{', serving' if row['serving'] else ''})"):
        st.dataframe(checkpoint_rows(ledger, row["deployment"]), hide_index=True)
