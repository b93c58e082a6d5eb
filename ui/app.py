"""The Lethe console (``lethe console`` runs it): one entrypoint with ``st.navigation`` over the pages.

The workspace comes from ``$LETHE_HOME``; its services are opened once and shared by every page. Lethe's
expected failures raised while a page renders become an error box instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui._views import reported_errors, services

# Not named ``pages/``: that folder name beside the entrypoint switches on Streamlit's legacy file-based
# pages, which would run a page file alone, skipping this script (page config, services, error boxes).
PAGES = Path(__file__).parent / "console_pages"


def main() -> None:
    """Render the console: page config, navigation, the workspace caption, then the chosen page."""
    st.set_page_config(page_title="Lethe console", layout="wide")
    page = st.navigation(
        [
            st.Page(PAGES / "requests.py", title="Requests", url_path="erasure-requests", default=True),
            st.Page(PAGES / "request_detail.py", title="Request detail", url_path="request"),
            st.Page(PAGES / "models.py", title="Models & lineage", url_path="lineage"),
            st.Page(PAGES / "ledger_page.py", title="Ledger", url_path="ledger"),
        ]
    )
    with reported_errors():
        st.sidebar.caption(f"workspace: `{services().ledger.workspace.root}`")
        page.run()


# Streamlit runs this file as ``__main__``. Shard workers started by ``spawn`` re-import the parent's main file
# as ``__mp_main__``; the guard keeps them from opening a workspace and rendering the console.
if __name__ == "__main__":
    main()
