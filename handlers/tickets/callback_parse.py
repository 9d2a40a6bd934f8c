"""Pure parsing for call-back requests: phone numbers (E.164) and a preferred time.

Kept apart from the conversation flow (handlers/tickets/callback.py) so both are easy to test alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

REGIONS = {"sv": "SE", "lv": "LV", "en": "GB"}
ANY_TIME = re.compile(
    r"^\s*(any\s*time|anytime|whenever|asap|as soon as possible|när som helst|när ni vill"
    r"|så snart som möjligt|jebkurā laikā|jebkad|pēc iespējas ātrāk)\s*[.!]?\s*$",
    re.IGNORECASE,
)
RELATIVE = re.compile(
    r"\b(?:in|om|pēc)\s+(\d{1,3}|an?|one|en|ett|vienas?)\s*"
    r"(min(?:ute)?s?|minut(?:er|en)?|minūt(?:ēm|es|i)|h(?:ours?)?|hrs?|timm(?:e|ar|en)|stund(?:ām|as|u)?)\b",
    re.IGNORECASE)
TOMORROW = re.compile(r"\b(tomorrow|imorgon|i morgon|rīt)\b", re.IGNORECASE)
TODAY = re.compile(r"\b(today|idag|i dag|šodien)\b", re.IGNORECASE)
CLOCK = re.compile(r"\b([01]?\d|2[0-3])(?:[:.]([0-5]\d))?\s*(am|pm)?\b", re.IGNORECASE)


def region_for(locale: str, override: str | None = None) -> str:
    """Default region for numbers written without +country: a setting, else by language."""
    return (override or REGIONS.get(locale, "GB")).upper()


def regions_for(locale: str, override: str | None = None) -> list[str]:
    """The regions to read a national number in, most likely first: the business's setting,
    the customer's language, then the other shipped countries (an English-speaking customer
    in Sweden writes "070-123 45 67")."""
    first = region_for(locale, override)
    return [first, *(r for r in dict.fromkeys(REGIONS.values()) if r != first)]


def phone_in_any(text: str, regions: list[str]) -> str | None:
    """The number read in the first region where it is valid."""
    for region in regions:
        found = normalise_phone(text, region)
        if found is not None:
            return found
    return None


def normalise_phone(text: str, region: str) -> str | None:
    """'070-123 45 67' (region SE) -> '+46701234567'; None when it is not a valid number."""
    candidate = text.strip()
    if not re.fullmatch(r"[+\d\s().\-/]{5,30}", candidate):
        return None
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Preferred:
    """``at`` is None for "any time"; else an aware datetime."""

    at: datetime | None


def parse_time(text: str, now: datetime, tz: ZoneInfo) -> Preferred | None:
    """'any time', 'tomorrow 10:00', '14:30', 'today 9' -> Preferred; None if not understood.

    A bare clock time that has already passed today means tomorrow.
    """
    if ANY_TIME.match(text):
        return Preferred(None)
    relative = RELATIVE.search(text)
    if relative is not None:  # "in 5 minutes", "om en timme", "pēc 2 stundām"
        amount = int(relative.group(1)) if relative.group(1).isdigit() else 1
        unit = relative.group(2).lower()
        minutes = amount if unit.startswith("min") else amount * 60
        return Preferred(now + timedelta(minutes=minutes))
    match = CLOCK.search(text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").lower()
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    if match.group(2) is None and not suffix and not (TOMORROW.search(text) or TODAY.search(text)):
        return None  # a bare number is more likely something else than a time
    local_now = now.astimezone(tz)
    day = local_now.date() + timedelta(days=1 if TOMORROW.search(text) else 0)
    at = datetime.combine(day, time(hour, minute), tzinfo=tz)
    if at <= local_now and not TODAY.search(text) and not TOMORROW.search(text):
        at += timedelta(days=1)
    return Preferred(at)
