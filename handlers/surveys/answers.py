"""Reading answers typed in any channel: numbers as digits or words (en/sv/lv), choices, skips.

A typed answer must *look like* an answer ("5", "fem", "pieci", "8/10", "4 of 5"); anything
longer is treated as the customer saying something else, which the FAQ then answers.
"""

from __future__ import annotations

import re

from handlers.surveys.definitions import Question

NUMBER_WORDS: dict[str, int] = {
    # English
    "zero": 0, "nil": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    # Swedish
    "noll": 0, "ett": 1, "en": 1, "två": 2, "tva": 2, "tre": 3, "fyra": 4, "fem": 5,
    "sex": 6, "sju": 7, "åtta": 8, "atta": 8, "nio": 9, "tio": 10,
    # Latvian (masculine and feminine forms, with and without diacritics)
    "nulle": 0, "viens": 1, "viena": 1, "divi": 2, "divas": 2, "trīs": 3, "tris": 3,
    "četri": 4, "četras": 4, "cetri": 4, "cetras": 4, "pieci": 5, "piecas": 5,
    "seši": 6, "sešas": 6, "sesi": 6, "sesas": 6, "septiņi": 7, "septiņas": 7,
    "septini": 7, "septinas": 7, "astoņi": 8, "astoņas": 8, "astoni": 8, "astonas": 8,
    "deviņi": 9, "deviņas": 9, "devini": 9, "devinas": 9, "desmit": 10,
}
SKIP_PHRASES = frozenset({
    "skip", "/skip", "skip it", "skip survey", "no thanks", "hoppa över", "hoppa over",
    "hoppa", "izlaist", "izlaidiet", "nē, paldies",
})
_TOKEN = r"(\d{1,2}|[^\W\d_]+)"
_SCORE = re.compile(
    rf"^{_TOKEN}(?:\s*(?:/|of|out of|av|no)\s*\d{{1,2}})?(?:\s*(?:points?|poäng|punkti|stars?))?$"
)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().casefold()).strip(" .!?,;:")


def number(text: str) -> int | None:
    """'5', 'fem', 'pieci', 'five', '8/10', '4 of 5' -> the number; None if not just a number."""
    match = _SCORE.match(normalise(text))
    if match is None:
        return None
    token = match.group(1)
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def is_skip(text: str) -> bool:
    return normalise(text) in SKIP_PHRASES


def scale_value(question: Question, text: str) -> int | None:
    value = number(text)
    if value is None or not question.min <= value <= question.max:
        return None
    return value


def choice_value(question: Question, text: str) -> str | None:
    """An option by its number in the list (1-based), its id, or its text in any locale."""
    wanted = normalise(text)
    value = number(wanted)
    if value is not None and 1 <= value <= len(question.options):
        return question.options[value - 1].id
    for option in question.options:
        if wanted == option.id or wanted in (normalise(t) for t in option.text.values()):
            return option.id
    return None
