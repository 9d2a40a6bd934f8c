"""Finding KB entries that will match badly (`crmbot kb lint`).

Two problems cause most wrong or hesitant answers: two entries that say nearly the same thing
(the matcher cannot choose, so it asks), and entries with too few wordings (customers' phrasing
is missed). Both are cheap to fix in the KB once pointed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from rapidfuzz import fuzz

from knowledge import normalize as nz
from knowledge.entries import KBEntry

#: Fewer phrasings than this (besides the question) and customers' wordings get missed.
MIN_PHRASINGS = 2
#: token_sort_ratio (0-100) of content words at which two wordings count as near-duplicates.
DUPLICATE_SCORE = 90.0


def lint(entries: Sequence[KBEntry]) -> list[str]:
    """Human-readable warnings, near-duplicates first; an empty list means nothing to fix."""
    enabled = [e for e in entries if e.enabled]
    return _near_duplicates(enabled) + _thin_entries(enabled)


def _thin_entries(entries: Sequence[KBEntry]) -> list[str]:
    return [
        f"{e.id} [{e.locale}]: only {len(e.phrasings)} phrasing(s); add at least {MIN_PHRASINGS} "
        "other ways a customer would ask"
        for e in entries
        if len(e.phrasings) < MIN_PHRASINGS
    ]


def _near_duplicates(entries: Sequence[KBEntry]) -> list[str]:
    """Wordings of different ids in one locale whose content words (lemmas) nearly coincide."""
    wordings: dict[str, list[tuple[str, str, str]]] = {}
    for entry in entries:
        for text in entry.texts():
            key = " ".join(nz.content_words(text, entry.locale))
            if key:
                wordings.setdefault(entry.locale, []).append((entry.id, text, key))
    found: dict[tuple[str, str, str], str] = {}
    for locale, rows in wordings.items():
        for (id_a, text_a, key_a), (id_b, text_b, key_b) in combinations(rows, 2):
            if id_a == id_b:
                continue
            first, second = sorted((id_a, id_b))
            pair = (locale, first, second)
            if pair not in found and fuzz.token_sort_ratio(key_a, key_b) >= DUPLICATE_SCORE:
                found[pair] = (
                    f"{pair[1]} / {pair[2]} [{locale}]: near-duplicate wordings "
                    f"{text_a!r} and {text_b!r}; merge the entries or make them distinct"
                )
    return list(found.values())
