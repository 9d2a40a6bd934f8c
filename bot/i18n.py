"""Message catalogs: every user-visible bot text, per locale, from bot/locales/<locale>.yaml.

Handlers never hold inline strings; they ask :meth:`Translator.t` by key. A key missing in a
locale falls back to English (and a test fails on any missing key in a shipped locale).
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SUPPORTED = ("en", "sv", "lv")
FALLBACK = "en"

log = logging.getLogger("crmbot.i18n")
#: libyaml's safe loader where PyYAML has it (its wheels do): the catalogs are read at every
#: start, and the pure-Python parser took ~0.1-0.2 s of each ``crmbot chat``.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_catalogs(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Every ``<locale>.yaml``; a plural text is a mapping of CLDR categories, flattened to
    ``key.one``, ``key.other``, ... so completeness checks see every form."""
    catalogs: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        flat: dict[str, str] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                flat.update({f"{key}.{form}": str(text) for form, text in value.items()})
            else:
                flat[str(key)] = str(value)
        catalogs[path.stem] = flat
    return catalogs


class Translator:
    """Looks up catalog texts by key and locale and fills in ``{placeholders}``."""

    def __init__(self, catalogs: dict[str, dict[str, str]] | None = None) -> None:
        self.catalogs = load_catalogs() if catalogs is None else catalogs

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(sorted(self.catalogs))

    def supports(self, locale: str | None) -> bool:
        return bool(locale) and locale in self.catalogs

    def t(self, key: str, locale: str, **values: Any) -> str:
        template = self.catalogs.get(locale, {}).get(key)
        if template is None:
            log.warning("catalog key %r missing for locale %r", key, locale)
            template = self.catalogs.get(FALLBACK, {}).get(key, key)
        return template.format(**values) if values else template

    def t_plural(self, key: str, n: int, locale: str, **values: Any) -> str:
        """The plural form of ``key`` for ``n`` in ``locale`` (CLDR rules via Babel).

        Latvian has three forms (zero: 10, 11, 20 ...; one: 1, 21 ...; other), English and
        Swedish two; a missing category falls back to ``other``. ``{n}`` is filled in.
        """
        form = plural_form(n, locale)
        catalog = self.catalogs.get(locale, {})
        chosen = f"{key}.{form}" if f"{key}.{form}" in catalog else f"{key}.other"
        return self.t(chosen, locale, n=n, **values)


def normalise_locale(value: str | None) -> str | None:
    """'sv-SE' -> 'sv', 'LV' -> 'lv'; None when not a shipped locale."""
    if not value:
        return None
    short = value.replace("_", "-").split("-")[0].lower()
    return short if short in SUPPORTED else None


def plural_form(n: int, locale: str) -> str:
    """The CLDR plural category of ``n`` in ``locale``: 'zero', 'one', 'few', ... or 'other'."""
    from babel import Locale

    return str(Locale.parse(locale).plural_form(abs(n)))


@functools.cache
def _default_translator() -> Translator:
    return Translator()


def t_plural(key: str, n: int, locale: str, **values: Any) -> str:
    """Plural-aware catalog text from the shipped catalogs (see :meth:`Translator.t_plural`)."""
    return _default_translator().t_plural(key, n, locale, **values)


#: The day part of "opening" per language, as a CLDR skeleton. Named, not left to Babel's
#: nearest match: Babel 2.19's CLDR data added an English full-month form, which turned
#: "Mon, Mar 30" into "Mon, March 30" on upgrade. English writes the month short
#: beside a short weekday; Swedish and Latvian write it in full ("mån 30 mars").
OPENING_DAY = {"en": "MMMEd"}


def format_datetime(
    dt: datetime, locale: str, tz: tzinfo | str | None = None, fmt: str = "opening"
) -> str:
    """``dt`` as a person in ``locale`` reads it, on the wall clock of ``tz`` (default UTC).

    ``fmt`` is Babel's "short", "medium", "long" or "full", a CLDR pattern, or "opening": the
    short weekday, day and month plus a 24-hour time ("Mon, Mar 30, 09:00", "mån 30 mars
    09:00", "pirmd., 30. marts 09:00"), which is what "we open ..." messages use.
    """
    from babel import Locale, dates

    zone = ZoneInfo(tz) if isinstance(tz, str) else (tz or UTC)
    if dt.tzinfo is None:
        raise ValueError("format_datetime needs a timezone-aware datetime")
    if fmt != "opening":
        return str(dates.format_datetime(dt, fmt, tzinfo=zone, locale=locale))
    skeleton = OPENING_DAY.get(normalise_locale(locale) or "", "MMMMEd")
    day = dates.format_skeleton(skeleton, dt, tzinfo=zone, locale=locale)
    clock = dates.format_skeleton("Hm", dt, tzinfo=zone, locale=locale)
    pattern = str(Locale.parse(locale).datetime_formats["medium"])
    return pattern.replace("{1}", str(day)).replace("{0}", str(clock))
