"""The Lethe console (``lethe console`` runs it): one entrypoint with ``st.navigation`` over the pages.

The workspace comes from ``$LETHE_HOME``; its services are opened once and shared by every page. A visitor who
has not signed in gets the sign-in page and nothing else; a signed-in user gets every page, and each page asks
the user's role before any action it offers (see ``ui/_access.py``). Lethe's expected failures raised while a
page renders become an error box instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui._session import reported_errors, services, sign_out, signed_in_user

# Not named ``pages/``: that folder name beside the entrypoint switches on Streamlit's legacy file-based
# pages, which would run a page file alone, skipping this script (page config, services, error boxes).
PAGES = Path(__file__).parent / "console_pages"


def _pages() -> list[st.Page]:
    return [
        st.Page(PAGES / "dashboard.py", title="Dashboard", url_path="dashboard", default=True),
        st.Page(PAGES / "new_request.py", title="New request", url_path="new-request"),
        st.Page(PAGES / "request_detail.py", title="Request detail", url_path="request"),
        st.Page(PAGES / "models.py", title="Models & lineage", url_path="lineage"),
        st.Page(PAGES / "audits.py", title="Audits", url_path="audits"),
        st.Page(PAGES / "ledger_page.py", title="Ledger", url_path="ledger"),
    ]


def main() -> None:
    """Render the console: page config, navigation for who is signed in, the workspace caption, the page."""
    st.set_page_config(page_title="Lethe console", layout="wide")
    user = None
    with reported_errors():  # a workspace or policy that cannot open is shown on the sign-in page, not a traceback
        user = signed_in_user()
    if user is None:
        page = st.navigation([st.Page(PAGES / "sign_in.py", title="Sign in", url_path="sign-in", default=True)])
    else:
        page = st.navigation(_pages())
    with reported_errors():
        st.sidebar.caption(f"workspace: `{services().ledger.workspace.root}`")
        if user is not None:
            st.sidebar.markdown(f"Signed in as **{user.name}** ({user.role})")
            if st.sidebar.button("Sign out", key="sign_out"):
                sign_out(user)
                st.rerun()
        page.run()


# Streamlit runs this file as ``__main__``. Shard workers started by ``spawn`` re-import the parent's main file
# as ``__mp_main__``; the guard keeps them from opening a workspace and rendering the console.
if __name__ == "__main__":
    main()
