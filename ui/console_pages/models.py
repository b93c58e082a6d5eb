"""Models & lineage: every deployment, how its shards split the data, the checkpoint serving each shard, and
any checkpoint's parent chain back to its first training."""

from __future__ import annotations

import streamlit as st

from ui._access import require
from ui._figures import shard_sizes_figure
from ui._tables import checkpoint_rows, deployment_rows, parent_chain_rows
from ui._session import page_user, reported_errors, services
from unlearn.methods import SINGLE_MODEL_METHODS, framework_methods, register_model
from unlearn.registry import adapters

user = page_user()
ledger = services().ledger

st.title("Models & lineage")
if user.can("register_model"):
    with st.expander("Register a model trained outside Lethe"), st.form("register_model"):
        st.caption("The model must have trained on this workspace's training split (its rows in natural id order); "
                   "the ledger records its file's sha256, the data digest and every interaction id it trained on.")
        framework = st.selectbox("Framework", sorted(adapters()), key="register_framework")
        model_path = st.text_input("Saved model file on this server", key="register_path")
        method = st.selectbox("Forget it by", SINGLE_MODEL_METHODS, key="register_method")
        if st.form_submit_button("Register"):
            with reported_errors():
                require(page_user(), "register_model")  # re-read at the moment of acting
                registered = register_model(ledger, framework, model_path.strip(), method=method, actor=user.name)
                st.success(f"Registered {registered.deployment_id} ({framework}, forgotten by {method}); now serving.")
                st.dataframe(framework_methods(framework), hide_index=True, key="register_methods")
rows = deployment_rows(ledger)
if not rows:
    st.info("No deployment trained yet; run `lethe train`, or register a model trained elsewhere.")
    st.stop()
st.dataframe(rows, hide_index=True, key="deployments")
st.plotly_chart(shard_sizes_figure(ledger), key="chart_shard_sizes")
st.caption("How many training interactions each shard (a part of the model trained on its own) holds: an erasure "
           "retrains only the shards that hold the subject's rows, so even shards keep that cost even.")

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
