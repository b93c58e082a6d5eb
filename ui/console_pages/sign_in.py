"""Sign in: the only page a visitor sees until they do (under every page's address, so a deep link survives it).
Users come from the workspace's users file."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui._access import load_users, users_path
from ui._session import SESSION_EXPIRED, reported_errors, services, sign_in
from verify import load_organisation

root = services().ledger.workspace.root
organisation = load_organisation(root)

left, middle, right = st.columns([1, 1.4, 1])
with middle:
    st.image(str(Path(__file__).parents[1] / "templates" / "lethe-mark.svg"), width=180)
    st.title("Sign in to the Lethe console")
    st.caption(("Privacy console of " + organisation.name + " — " if organisation.configured else "")
               + "erasure requests for recommender models, with signed proof.")
    if st.session_state.get(SESSION_EXPIRED):
        st.info("Your session ended after being idle; sign in again.")
    if st.query_params.get("id"):
        st.caption(f"Sign in to open request {st.query_params['id']}.")
    with reported_errors():
        if not load_users(root):
            st.info(f"No console users yet. Add one with `lethe user add NAME --role officer --workspace {root}` "
                    f"(it writes `{users_path(root).name}` in the workspace).")
        with st.form("sign_in"):
            name = st.text_input("User name", key="sign_in_name")
            password = st.text_input("Password", type="password", key="sign_in_password")
            submitted = st.form_submit_button("Sign in", type="primary", use_container_width=True)
        if submitted:
            sign_in(name, password)
            st.rerun()  # the navigation now holds every page; the address asked for (or the dashboard) opens
    st.caption("Access is recorded: every sign-in and action is an entry in the workspace's signed ledger.")
