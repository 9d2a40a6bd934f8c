"""The knowledge-base entry: one answer in one language.

The question may be empty (answer-only FAQs are matched against the answer text).
An entry is identified by (``id``, ``locale``): the same ``id`` in several locales is one answer
in several languages, so a matcher may find the Swedish question and answer in Latvian.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_RE = re.compile(r"^[^\s/:#?&%]{1,100}$|^[^\s/:#&%]{1,99}\?$")
LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

NonBlank = Annotated[str, Field(min_length=1, max_length=4000)]


class KBEntry(BaseModel):
    """One knowledge-base entry as it appears in every file format and the API."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=100)
    locale: str = Field(min_length=2, max_length=12)
    question: Annotated[str, Field(max_length=4000)] = ""
    phrasings: tuple[str, ...] = ()
    answer: Annotated[str, Field(min_length=1, max_length=20000)]
    tags: tuple[str, ...] = ()
    enabled: bool = True
    #: Shown in the public help center (/help/); False keeps an internal entry bot-only.
    public: bool = True

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not ID_RE.match(value):
            raise ValueError(
                "must be a stable id without spaces or any of / : # & % ? (e.g. card_arrival)"
            )
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if not LOCALE_RE.match(value):
            raise ValueError("must be a language code such as 'en', 'sv' or 'lv'")
        return value

    @field_validator("phrasings", "tags")
    @classmethod
    def _clean_list(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip() for v in value if v and v.strip())
        if len(cleaned) > 500:
            raise ValueError("at most 500 items")
        return cleaned

    @property
    def key(self) -> tuple[str, str]:
        """The identity of an entry: (id, locale)."""
        return (self.id, self.locale)

    def texts(self) -> tuple[str, ...]:
        """Every wording a customer might use for this entry: question first, then phrasings."""
        return tuple(t for t in (self.question, *self.phrasings) if t)
