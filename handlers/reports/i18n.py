"""Report texts in the reader's language: English, Swedish or Latvian.

The English text is its own key (as with gettext): the reports were written in English, and a
missing translation then shows the English text instead of a key name. ``locales/sv.yaml`` and
``locales/lv.yaml`` map each English text to its translation; tests/test_reports_i18n.py checks
that every text a report can show (headline labels, column headings, table and chart titles,
page texts) has both.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import yaml

LOCALES = ("en", "sv", "lv")
LOCALES_DIR = Path(__file__).resolve().parent / "locales"

Translate = Callable[[str], str]


@lru_cache(maxsize=len(LOCALES))
def catalog(locale: str) -> dict[str, str]:
    """English text -> text in ``locale`` (empty for English)."""
    if locale == "en":
        return {}
    if locale not in LOCALES:
        raise ValueError(f"reports are in {', '.join(LOCALES)}, not {locale!r}")
    data = yaml.safe_load((LOCALES_DIR / f"{locale}.yaml").read_text("utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


def english(text: str) -> str:
    """The translator for English: the text is its own translation (the default everywhere)."""
    return text


def translator(locale: str) -> Translate:
    """``tr(text)`` for one locale; placeholders (``{period}``) are filled by the caller."""
    texts = catalog(locale)
    return lambda text: texts.get(text, text)
