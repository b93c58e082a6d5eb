"""Who the controller is, as its letters and certificates name it: ``organisation.toml`` in the workspace.

The organisation edits this file (no policy change: a new DPO address is not a new rule)::

    name = "Acme Streaming Ltd"
    address = "1 Example Street, 1000 Brussels, Belgium"
    dpo_name = "Dana Privacy"
    dpo_email = "dpo@acme.example"
    supervisory_authority = "the Belgian Data Protection Authority (www.dataprotectionauthority.be)"
    logo = "branding/logo.png"       # PNG or JPEG, relative to the workspace; optional
    letter_templates = "letters"     # folder of the organisation's own letter templates; optional

A workspace without the file gets placeholders that say so in the letters (``[organisation name: set it in
organisation.toml]``), never an invented company.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger import LetheError

ORGANISATION_FILE = "organisation.toml"


class OrganisationError(LetheError):
    """The organisation settings file cannot be read."""

    exit_code = 2


def _unset(what: str) -> str:
    return f"[{what}: set it in {ORGANISATION_FILE}]"


class Organisation(BaseModel):
    """The controller's details its letters and certificates show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(_unset("organisation name"), min_length=1, max_length=200)
    address: str = Field("", max_length=400)
    dpo_name: str = Field(_unset("data protection officer"), max_length=200)
    dpo_email: str = Field(_unset("DPO e-mail"), max_length=200)
    supervisory_authority: str = Field("the data protection supervisory authority of your country of residence",
                                       max_length=400)
    logo: str | None = Field(None, description="image file relative to the workspace")
    letter_templates: str | None = Field(None, description="folder of templates overriding the shipped ones")
    configured: bool = Field(False, exclude=True, description="whether the values come from the file")

    @property
    def dpo_contact(self) -> str:
        return f"{self.dpo_name} <{self.dpo_email}>"

    def logo_path(self, workspace_root: Path) -> Path | None:
        """The logo file, if one is set and exists (a missing file is left out, not an error in a letter)."""
        if not self.logo:
            return None
        path = (Path(workspace_root) / self.logo).resolve()
        return path if path.is_file() and path.suffix.lower() in (".png", ".jpg", ".jpeg") else None


def load_organisation(workspace_root: Path) -> Organisation:
    """The workspace's organisation settings, or placeholders when it has none; a malformed file is refused with
    its first error."""
    path = Path(workspace_root) / ORGANISATION_FILE
    if not path.exists():
        return Organisation()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Organisation(**data, configured=True)
    except tomllib.TOMLDecodeError as exc:
        raise OrganisationError(f"{path} is not valid TOML: {exc}") from None
    except (TypeError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": ("?",), "msg": str(exc)}
        raise OrganisationError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def save_organisation(workspace_root: Path, organisation: Organisation) -> Path:
    """Write the settings back (the console's settings form); strings as TOML basic strings."""
    import json

    lines = ["# The controller's details for letters and certificates (Lethe console: Settings).\n"]
    for key, value in organisation.model_dump(exclude_none=True).items():
        lines.append(f"{key} = {json.dumps(value)}\n")
    path = Path(workspace_root) / ORGANISATION_FILE
    path.write_text("".join(lines), encoding="utf-8")
    return path
