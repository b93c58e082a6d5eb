"""The Lethe console (``lethe console`` runs it): one entrypoint with ``st.navigation`` over the pages.

The workspace comes from ``$LETHE_HOME``; its services are opened once and shared by every page. A visitor who
has not signed in gets the sign-in page and nothing else — under every page's address, so a deep link
(``/request?id=req-…``) survives the sign-in: once signed in, the same address opens the page it names. A
signed-in user gets every page, and each page asks the user's role before any action it offers (see
``ui/_access.py``). Signing out clears the whole session (the next user starts from the dashboard, not on the
previous user's request). Lethe's expected failures raised while a page renders become an error box in plain
words instead of a traceback.
"""

from __future__ import annotations

from unlearn.threads import apply_thread_policy

THREADS = apply_thread_policy()  # before torch or numba load, also under a bare `streamlit run` (assigned: no magic)

from pathlib import Path  # noqa: E402

import streamlit as st  # noqa: E402

from ui._session import reported_errors, services, sign_out, signed_in_user

# Not named ``pages/``: that folder name beside the entrypoint switches on Streamlit's legacy file-based
# pages, which would run a page file alone, skipping this script (page config, services, error boxes).
PAGES = Path(__file__).parent / "console_pages"
PAGE_SPECS = [  # file, title, url path, icon
    ("dashboard.py", "Dashboard", "dashboard", ":material/dashboard:"),
    ("requests.py", "Requests", "requests", ":material/inbox:"),
    ("new_request.py", "New request", "new-request", ":material/add_circle:"),
    ("request_detail.py", "Request", "request", ":material/assignment:"),
    ("verify_certificate.py", "Verify a certificate", "verify", ":material/verified:"),
    ("models.py", "Models & lineage", "lineage", ":material/account_tree:"),
    ("audits.py", "Audits", "audits", ":material/fact_check:"),
    ("ledger_page.py", "Ledger", "ledger", ":material/receipt_long:"),
    ("settings.py", "Organisation", "organisation", ":material/apartment:"),
]
# The running/Stop indicator and the developer menu are Streamlit's, not the officer's (with client.toolbarMode
# minimal, set below and in .streamlit/config.toml, the Deploy button is gone too). No bare strings in this file:
# Streamlit's "magic" would print them on the page.
HIDE_DEVELOPER_CHROME = """
<style>
  [data-testid="stStatusWidget"], [data-testid="stAppDeployButton"], [data-testid="stMainMenu"] {display: none;}
  [data-testid="stSidebarHeader"] {padding-bottom: 0;}
</style>
"""


def _pages() -> list[st.Page]:
    return [st.Page(PAGES / file, title=title, url_path=path, icon=icon, default=path == "dashboard")
            for file, title, path, icon in PAGE_SPECS]


def _signed_out_pages() -> list[st.Page]:
    """The sign-in page under its own address (the default) and under every page's, so the address a visitor came
    with stays in the browser while they sign in."""
    sign_in = PAGES / "sign_in.py"
    return [st.Page(sign_in, title="Sign in", url_path="sign-in", default=True),
            *(st.Page(sign_in, title="Sign in", url_path=path) for _, _, path, _ in PAGE_SPECS)]


def main() -> None:
    """Render the console: page config, navigation for who is signed in, the workspace caption, the page."""
    st.set_page_config(page_title="Lethe console", page_icon=":material/shield_lock:", layout="wide",
                       menu_items={"Get help": None, "Report a bug": None, "About": "Lethe: erasure requests for "
                                   "recommender models, with signed proof."})
    try:
        st.set_option("client.toolbarMode", "minimal")  # no Deploy button, no developer options
    except st.errors.StreamlitAPIException:
        pass  # an older Streamlit refuses it at run time; .streamlit/config.toml sets it too
    st.markdown(HIDE_DEVELOPER_CHROME, unsafe_allow_html=True)
    user = None
    with reported_errors():  # a workspace or policy that cannot open is shown on the sign-in page, not a traceback
        user = signed_in_user()
    pages = _pages()
    if user is None:
        page = st.navigation(_signed_out_pages(), position="hidden")
    else:
        page = st.navigation(pages)
    with reported_errors():
        st.logo(str(Path(__file__).parent / "templates" / "lethe-mark.svg"), size="large")
        st.sidebar.caption(f"workspace: `{services().ledger.workspace.root}`")
        if user is not None:
            st.sidebar.markdown(f"Signed in as **{user.name}** ({user.role})")
            if st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:"):
                sign_out(user)  # clears the whole session
                st.switch_page(pages[0])  # the next user signs in to the dashboard, not to this user's page
        page.run()


# Streamlit runs this file as ``__main__``. Shard workers started by ``spawn`` re-import the parent's main file
# as ``__mp_main__``; the guard keeps them from opening a workspace and rendering the console.
if __name__ == "__main__":
    main()
