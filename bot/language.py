"""Detecting which shipped language a customer writes in (English, Swedish, Latvian).

lingua is restricted to the shipped locales, which makes it accurate on the short texts chat
customers send; a guess below :data:`MIN_CONFIDENCE` or on a too-short text is no guess.

lingua's confidence is low on short plain sentences ("I want to talk to a human": English
0.68), which left a customer who switched language answered in the old one. A guess between
:data:`SECOND_OPINION` and :data:`MIN_CONFIDENCE` is therefore taken when simplemma's
dictionaries (already loaded for matching) know nearly every word in that language and clearly
fewer in the others; on the sample KB's wordings and tests/data/short_messages.yaml (207
texts) that answers 199 instead of 195, with the same one wrong guess.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from bot.i18n import SUPPORTED

MIN_CONFIDENCE = 0.75
SECOND_OPINION = 0.5
KNOWN_WORDS = 0.9  # share of the words simplemma knows in the guessed language
KNOWN_MARGIN = 0.25  # ... above the best other language
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
    if not values or values[0].value < SECOND_OPINION:
        return None
    guess = str(values[0].language.iso_code_639_1.name.lower())
    if values[0].value >= MIN_CONFIDENCE or _words_agree(text, guess):
        return guess
    return None


def _words_agree(text: str, guess: str) -> bool:
    """simplemma knows (nearly) every word of the text in ``guess``, clearly fewer elsewhere."""
    from knowledge.lemmatizer import known_share

    known = {lang: known_share(text, lang) for lang in SUPPORTED}
    others = max(share for lang, share in known.items() if lang != guess)
    return known[guess] >= KNOWN_WORDS and known[guess] - others >= KNOWN_MARGIN
