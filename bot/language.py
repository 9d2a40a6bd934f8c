"""Detecting which shipped language a customer writes in (English, Swedish, Latvian).

lingua is restricted to the shipped locales, which makes it accurate on the short texts chat
customers send; a guess below :data:`MIN_CONFIDENCE` or on a too-short text is no guess.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MIN_CONFIDENCE = 0.75
MIN_LETTERS = 6
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


@functools.cache
def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SWEDISH, Language.LATVIAN)
        .with_preloaded_language_models()
        .build()
    )


def warm_up() -> None:
    """Load the language models (about half a second) before the first customer waits."""
    _detector()


def detect(text: str) -> str | None:
    """'sv', 'lv' or 'en' when the text clearly is that language, else None."""
    if len(_LETTERS.findall(text)) < MIN_LETTERS:
        return None
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return None
    return str(values[0].language.iso_code_639_1.name.lower())
