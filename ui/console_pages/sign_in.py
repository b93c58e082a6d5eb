"""Sign in: the only page a visitor sees until they do. Users come from the workspace's users file."""

from __future__ import annotations

import streamlit as st

from ui._access import load_users, users_path
from ui._session import SESSION_EXPIRED, reported_errors, services, sign_in

root = services().ledger.workspace.root

st.title("Sign in to the Lethe console")
if st.session_state.get(SESSION_EXPIRED):
    st.info("Your session ended after being idle; sign in again.")
with reported_errors():
    if not load_users(root):
        st.info(f"No console users yet. Add one with `lethe user add NAME --role officer --workspace {root}` "
                f"(it writes `{users_path(root).name}` in the workspace).")
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        sign_in(name, password)
        st.rerun()  # the navigation now holds every page; the dashboard opens
