"""Organisation: the controller's name, address, DPO contact, supervisory authority and logo, which letters to data
subjects and certificates show (``organisation.toml`` in the workspace; officers edit it here or by hand), and where
the organisation's own letter templates go."""

from __future__ import annotations

import streamlit as st

from ui._access import require
from ui._session import page_user, record_action, reported_errors, services
from ui.letters import SHIPPED_TEMPLATES
from verify import ORGANISATION_FILE, Organisation, load_organisation, save_organisation

user = page_user()
root = services().ledger.workspace.root

st.title("Organisation")
with reported_errors():
    organisation = load_organisation(root)
    if not organisation.configured:
        st.warning(f"No `{ORGANISATION_FILE}` yet: letters show placeholders instead of your organisation's name and "
                   "DPO contact, and certificates name no controller.")
    if not user.can("file_request"):
        st.json(organisation.model_dump())
        st.stop()
    logo = organisation.logo_path(root)
    if logo is not None:
        st.image(str(logo), width=200, caption="Logo on letters and certificates")
    with st.form("organisation"):
        name = st.text_input("Organisation (the controller)", value=organisation.name if organisation.configured
                             else "", key="org_name")
        address = st.text_input("Postal address", value=organisation.address, key="org_address")
        left, right = st.columns(2)
        dpo_name = left.text_input("Data protection officer", key="org_dpo_name",
                                   value=organisation.dpo_name if organisation.configured else "")
        dpo_email = right.text_input("DPO e-mail", key="org_dpo_email",
                                     value=organisation.dpo_email if organisation.configured else "")
        authority = st.text_input("Supervisory authority (named in refusal and extension letters)",
                                  value=organisation.supervisory_authority, key="org_authority")
        upload = st.file_uploader("Logo (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="org_logo")
        saved = st.form_submit_button("Save", type="primary")
    if saved:
        require(page_user(), "file_request")
        logo_name = organisation.logo
        if upload is not None:
            branding = root / "branding"
            branding.mkdir(exist_ok=True)
            logo_name = f"branding/logo{'.png' if upload.name.lower().endswith('.png') else '.jpg'}"
            (root / logo_name).write_bytes(upload.getvalue())
        updated = Organisation(name=name.strip() or organisation.name, address=address.strip(),
                               dpo_name=dpo_name.strip() or organisation.dpo_name,
                               dpo_email=dpo_email.strip() or organisation.dpo_email,
                               supervisory_authority=authority.strip() or organisation.supervisory_authority,
                               logo=logo_name, letter_templates=organisation.letter_templates)
        save_organisation(root, updated)
        record_action(user, "file_request", "console.organisation_saved",
                      {"name": updated.name, "dpo_email": updated.dpo_email, "logo": updated.logo})
        st.success("Saved; new letters and certificates use it.")
        st.rerun()

st.subheader("Letter templates")
st.markdown(f"The shipped templates are in `{SHIPPED_TEMPLATES}`. To use your own wording, copy any of them into a "
            f"folder of the workspace and name it in `{ORGANISATION_FILE}` as `letter_templates = \"letters-own\"`; "
            "a file there replaces the shipped one of the same name. The first line is the letter's subject; "
            "`{{ org.name }}`, `{{ request.deadline | longdate }}` and the like are filled in (a misspelt name is an "
            "error, never a blank line).")
