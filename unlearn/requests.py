"""Erasure requests as filed by a privacy officer (validated at the boundary).

A request names one data subject and a scope: everything of theirs (Art. 17 in full), a list of items they
interacted with ("forget these 30 ratings"), or a time window ("forget what happened on my account in March").
The scope is resolved against the store when the request is filed, into the subject's interaction ids, so the
ledger records which interactions the request covers without ever recording an item or a rating. A batch
request erases several whole subjects at once (cheaper than one request each: shared retraining and verification).
Each scope's ``kind`` (and a batch's) is a :class:`ledger.RequestKind`, the one vocabulary of request kinds.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger import RequestKind

REQUEST_STATES = (
    "received", "validated", "planned", "unlearned", "data_erased", "verified", "certified", "rejected", "failed"
)
FINAL_STATES = ("certified", "rejected", "failed")
"""States ``run`` has nothing left to do in (a failed request runs again only after ``retry``)."""
ANSWERED_STATES = ("certified", "rejected")
"""States that answer the request, so its GDPR Art. 12(3) deadline no longer runs. A failed request is not answered:
it stays open for deadlines (audits, dashboard) until a retry certifies it."""

_FROZEN = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _no_control_characters(value: str, what: str) -> str:
    if any(ord(ch) < 32 for ch in value):
        raise ValueError(f"{what} contains control characters")
    return value


def _distinct_ids(values: list[str], one: str, many: str) -> list[str]:
    """Ids stripped and checked (no control characters, none empty, none twice), in their order."""
    cleaned = [_no_control_characters(str(value).strip(), one) for value in values]
    if any(not value for value in cleaned):
        raise ValueError(f"{one} is empty")
    duplicates = sorted(value for value, count in Counter(cleaned).items() if count > 1)
    if duplicates:
        raise ValueError(f"{many} listed twice: {', '.join(duplicates)}")
    return cleaned


class WholeSubject(BaseModel):
    """Every interaction of the subject; their salt and dense index leave the store too."""

    model_config = _FROZEN
    kind: Literal[RequestKind.SUBJECT] = RequestKind.SUBJECT


class ListedInteractions(BaseModel):
    """The subject's interactions with the listed items (every rating or click of theirs on each item)."""

    model_config = _FROZEN
    kind: Literal[RequestKind.INTERACTIONS] = RequestKind.INTERACTIONS
    items: list[str] = Field(min_length=1, description="item ids as they appear in the data set")

    @field_validator("items")
    @classmethod
    def _distinct_clean_items(cls, items: list[str]) -> list[str]:
        return _distinct_ids(items, "an item id", "items")


class TimeWindow(BaseModel):
    """The subject's interactions with a timestamp in ``[start, end)`` (UTC; naive times are read as UTC)."""

    model_config = _FROZEN
    kind: Literal[RequestKind.TIME_WINDOW] = RequestKind.TIME_WINDOW
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    @model_validator(mode="after")
    def _start_before_end(self) -> "TimeWindow":
        if self.start >= self.end:
            raise ValueError(f"the window's start ({self.start.isoformat()}) must be before its end ({self.end.isoformat()})")
        return self

    def bounds(self) -> tuple[int, int]:
        """The window in unix seconds, as the store keeps timestamps."""
        return int(self.start.timestamp()), int(self.end.timestamp())


Scope = Annotated[Union[WholeSubject, ListedInteractions, TimeWindow], Field(discriminator="kind")]


class _Filing(BaseModel):
    """What every request states besides whom it is about."""

    model_config = _FROZEN

    regulation: str = "GDPR Art. 17"
    basis: str = Field("Art. 17(1)(b): consent withdrawn", min_length=1, description="legal ground invoked")
    notes: str = ""


class ErasureRequest(_Filing):
    """An erasure request (GDPR Art. 17) for one data subject: the whole subject unless a narrower scope is given."""

    subject: str = Field(min_length=1, description="the data subject's id as it appears in the data set")
    scope: Scope = Field(default_factory=WholeSubject)

    @field_validator("subject")
    @classmethod
    def _clean_subject(cls, value: str) -> str:
        return _no_control_characters(value, "subject id")

    @property
    def kind(self) -> RequestKind:
        return self.scope.kind

    @property
    def subjects(self) -> list[str]:
        return [self.subject]


class BatchErasureRequest(_Filing):
    """Several whole subjects erased as one request: a shard or group several of them hit is retrained once, and
    one verification (one reference retrain) covers them all. One certificate names every subject's pseudonym."""

    subjects: list[str] = Field(min_length=2, description="the data subjects' ids as they appear in the data set")

    @field_validator("subjects")
    @classmethod
    def _distinct_clean_subjects(cls, subjects: list[str]) -> list[str]:
        return _distinct_ids(subjects, "a subject id", "subjects")

    @property
    def kind(self) -> RequestKind:
        return RequestKind.BATCH
