"""What an announcement says and to whom: the validated ``spec`` of a broadcast.

A spec comes from a YAML/JSON file (``crmbot broadcast create FILE``), ``--text`` or the REST
API, and is checked here once, so bad input is a clear error before anything is stored::

    name: Spring sale
    messages: {en: "Spring sale: -20 % until Sunday", sv: "Vårrea: -20 % till söndag"}
    default_locale: en
    buttons: [[{label: {en: Shop, sv: Handla}, url: "https://shop.example/sale"}]]
    segment: {channels: [telegram], locales: [en, sv], tags: [vip], contacted_within_days: 90,
              survey: {id: nps, min: 9, max: 10}, attributes: {plan: pro}}
    schedule: {at: "2026-12-01T09:00:00Z", local_time: "10:00", quiet_hours: true}
    footer: true
"""

from __future__ import annotations

import json
from datetime import datetime, time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.i18n import normalise_locale
from bot.messages import Button

MAX_TEXT = 3500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpecButton(Strict):
    label: str | dict[str, str]
    url: str | None = None
    data: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_target(self) -> SpecButton:
        if (self.url is None) == (self.data is None):
            raise ValueError("a button needs exactly one of url or data")
        if self.url is not None and not self.url.startswith(("https://", "http://", "tg://")):
            raise ValueError(f"button url {self.url!r} must start with https:// or http://")
        return self

    def for_locale(self, locale: str, default: str) -> Button:
        label = self.label if isinstance(self.label, str) else (
            self.label.get(locale) or self.label.get(default) or next(iter(self.label.values()))
        )
        return Button(label, data=self.data, url=self.url)


class SurveyScore(Strict):
    id: str
    min: int | None = None
    max: int | None = None


#: Channels an announcement can reach (intake items, the Slack desk and the terminal cannot).
ANNOUNCING_CHANNELS = ("telegram", "web", "email", "whatsapp", "messenger", "instagram")


class SegmentSpec(Strict):
    """Who: every given filter must hold. Consent and reachability always apply on top."""

    channels: list[str] | None = None
    locales: list[str] | None = None
    tags: list[str] | None = None
    contacted_within_days: int | None = Field(default=None, ge=1)
    not_contacted_within_days: int | None = Field(default=None, ge=1)
    survey: SurveyScore | None = None
    attributes: dict[str, Any] | None = None
    customer_ids: list[int] | None = None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(ANNOUNCING_CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}: announcements go to "
                             f"{', '.join(ANNOUNCING_CHANNELS)}")
        return value

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(v for v in value or () if normalise_locale(v) != v)
        if unknown:
            raise ValueError(f"unknown locale(s) {unknown}: use en, sv or lv")
        return value


class ScheduleSpec(Strict):
    at: datetime | None = None
    local_time: str | None = None
    quiet_hours: bool = False

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("schedule.at needs a time zone, e.g. 2026-12-01T09:00:00Z")
        return value

    @field_validator("local_time")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None:
            time.fromisoformat(value)  # ValueError on "25:00" and the like
        return value

    def wall_clock(self) -> time | None:
        return time.fromisoformat(self.local_time) if self.local_time else None


class BroadcastSpec(Strict):
    name: str = Field(min_length=1, max_length=200)
    messages: dict[str, str]
    default_locale: str = "en"
    buttons: list[list[SpecButton]] = Field(default_factory=list)
    segment: SegmentSpec = Field(default_factory=SegmentSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    footer: bool = True
    #: Also publish it as a news post in the help center (/help/{locale}/news and its Atom
    #: feed) once it starts sending: only for news meant for everyone.
    publish: bool = False

    @model_validator(mode="after")
    def _texts(self) -> BroadcastSpec:
        """Every problem of the texts at once, not the first one only."""
        if not self.messages:
            raise ValueError("messages needs at least one locale, e.g. {en: 'Hello'}")
        problems = []
        for locale, text in self.messages.items():
            if normalise_locale(locale) != locale:
                problems.append(f"messages: {locale!r} is not a shipped locale (en, sv, lv)")
            if not text.strip() or len(text) > MAX_TEXT:
                problems.append(f"messages.{locale}: 1 to {MAX_TEXT} characters")
        if self.default_locale not in self.messages:
            problems.append(f"default_locale {self.default_locale!r} has no message")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def text_for(self, locale: str) -> str:
        return self.messages.get(locale) or self.messages[self.default_locale]

    def buttons_for(self, locale: str) -> tuple[tuple[Button, ...], ...]:
        return tuple(
            tuple(b.for_locale(locale, self.default_locale) for b in row) for row in self.buttons
        )


def parse(data: Any) -> BroadcastSpec:
    """Validate a spec; ValueError lists every problem with its field."""
    if not isinstance(data, dict):
        raise ValueError("a broadcast spec must be a mapping (YAML/JSON object)")
    try:
        return BroadcastSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError("invalid broadcast: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors()
        )) from None


def load_file(path: Path) -> BroadcastSpec:
    raw = path.read_text(encoding="utf-8")
    try:
        data = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: not valid {path.suffix or 'YAML'}: {exc}") from None
    return parse(data)
