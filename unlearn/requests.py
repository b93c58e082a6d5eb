"""Erasure requests as filed by a privacy officer (validated at the boundary)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

REQUEST_STATES = (
    "received", "validated", "planned", "unlearned", "data_erased", "verified", "certified", "rejected", "failed"
)
FINAL_STATES = ("certified", "rejected", "failed")


class ErasureRequest(BaseModel):
    """A whole-subject erasure request (GDPR Art. 17)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    subject: str = Field(min_length=1, description="the data subject's id as it appears in the data set")
    regulation: str = "GDPR Art. 17"
    basis: str = Field("Art. 17(1)(b): consent withdrawn", min_length=1, description="legal ground invoked")
    notes: str = ""

    @field_validator("subject")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("subject id contains control characters")
        return value
