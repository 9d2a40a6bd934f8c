"""Finding the knowledge-base entry that answers a customer's text.

The contract the rest of crmbot relies on is small: :func:`build_matcher` turns entries into a
:class:`Matcher`, whose :meth:`Matcher.match` returns ranked :class:`Candidate`s with a confidence
in [0, 1] and says whether the best one is confident enough to answer alone. Everything else
(normalisation, features, models) is an implementation detail that may change.

The default matcher is lexical (lemmas + character n-grams, see :mod:`knowledge._index`) plus,
for English, static word-piece vectors distilled from a sentence encoder
(:mod:`knowledge.static_vectors`, numpy only); one query takes 0.5-2 ms (p99 ~1.6 ms at 1,000
wordings, ~5 ms at 10,000), so it may run on the event loop. ``kind="lexical"`` leaves the vectors
out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from knowledge import calibration
from knowledge import static_vectors as sv
from knowledge._index import (
    ANSWER_WEIGHT,
    LocaleIndex,
    Scores,
    Wording,
    describing_texts,
    split_answer,
)
from knowledge.entries import KBEntry

log = logging.getLogger("crmbot.matcher")

#: Confidence needed to answer alone; CRMBOT_MATCH_THRESHOLD overrides it via ``threshold``.
#: Chosen as the lowest expected cost with a wrong answer costing 4 and an abstention 1 (the
#: customer picks a suggestion or is handed over); trade-off curve in docs/matching.md.
DEFAULT_THRESHOLD = 0.7
#: The matcher kinds build_matcher knows (CRMBOT_MATCHER).
KINDS = ("auto", "default", "lexical", "fused", "semantic")
#: The kinds that may run the multilingual encoder (knowledge/fusion.py).
FUSED_KINDS = frozenset({"auto", "fused"})
#: ``auto`` fuses a locale of at most this many wordings (questions and phrasings) and leaves a
#: larger one to the default matcher: a first build embeds every wording (~8 ms each on one
#: core, so ~40 s here) and a locale with that many wordings per entry is what the lexical
#: part does best on. ``fused`` has no limit.
MAX_FUSED_WORDINGS = 5000
#: Below the confidence to answer alone, the bot offers the best candidate and each runner-up
#: the matcher gives at least SUGGEST_ALSO_MIN, at most MAX_SUGGESTIONS in all, when their
#: confidences add up to SUGGEST_MIN: a one-in-five chance that the right entry is among them
#: (MatchResult.suggestions). Used by the FAQ handler, the admin's "try a question", the help
#: center's search and `kb eval`.
SUGGEST_MIN = 0.2
SUGGEST_ALSO_MIN = 0.01
MAX_SUGGESTIONS = 3

# Logistic calibration of (best score, margin to the runner-up, share of the query's content words
# the entry lacks, share no entry knows) into P(best is right): (bias, score, margin, uncovered,
# unknown). Fitted on BANKING77 *dev* queries (train split minus KB phrasings) over KBs of 12, 20,
# 40 and 58 intents, the other intents' queries serving as out-of-scope: on a small KB the margin
# is large by default (few rivals), so words the entry does not cover must count. One set for the
# lexical score alone (locales without static vectors), one for lexical + static vectors, whose
# scores run on a larger scale. See bench/calibrate.py and docs/matching.md.
Calibration = tuple[float, float, float, float, float]
LEXICAL_CALIBRATION: Calibration = (-1.86, 4.76, 9.34, -2.47, -2.00)
STATIC_CALIBRATION: Calibration = (-4.66, 3.1, 4.07, -2.66, -0.18)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible answer: the entry id, the locale it was found in, and a confidence 0..1."""

    entry_id: str
    locale: str
    score: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Ranked candidates (best first, distinct ids) and whether the best may be answered alone."""

    candidates: tuple[Candidate, ...]
    confident: bool

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def suggestions(self, limit: int = MAX_SUGGESTIONS) -> tuple[Candidate, ...]:
        """What the bot offers when it does not answer alone: the best and the runners-up from
        SUGGEST_ALSO_MIN, if the chance that the right entry is among them reaches SUGGEST_MIN.

        Confidences are P(this entry is right), so the chance that one of the offered is right
        is their sum. The 0.2 floor used to apply to each candidate: where no entry is likely
        alone (small KBs, unusual wordings) it hid the right runner-up or every suggestion.
        The right entry was offered for 39 / 33 % of the unsure questions of the Swedish /
        Latvian shops, 65 / 73 % now; BANKING77 and HWU64 with a quarter of their intents out
        of the KB: 81 -> 87 % (more of their out-of-scope questions get suggestions too,
        83 -> 98 % and 75 -> 93 %: a choice of likely entries and "talk to a person" instead
        of "I have no answer"). docs/matching.md.
        """
        offered = tuple(c for rank, c in enumerate(self.candidates[:limit])
                        if rank == 0 or c.score >= SUGGEST_ALSO_MIN)
        return offered if sum(c.score for c in offered) >= SUGGEST_MIN else ()


class Matcher(Protocol):
    """What the FAQ handler and `kb eval` need from a matcher."""

    threshold: float

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult: ...

    def warm_up(self) -> None:
        """Load now what the first query would load (`kb eval` times queries after this)."""


def calibrate(
    best: float,
    runner_up: float,
    uncovered: float = 0.0,
    unknown: float = 0.0,
    weights: Calibration = LEXICAL_CALIBRATION,
) -> float:
    """Map a raw similarity, its lead over the next entry and word coverage to a confidence.

    The margin matters as much as the score: two entries that fit equally well mean the customer
    should choose, not the bot. ``uncovered`` (share of the query's content words the entry never
    uses) and ``unknown`` (share no entry uses) lower it: the customer asks about something else.
    """
    bias, w_score, w_margin, w_uncovered, w_unknown = weights
    z = (
        bias + w_score * best + w_margin * (best - runner_up)
        + w_uncovered * uncovered + w_unknown * unknown
    )
    return 1.0 / (1.0 + math.exp(-z))


class LexicalMatcher:
    """The default matcher: one :class:`LocaleIndex` per locale, customer's locale first.

    ``embeds``: False; a subclass that runs a sentence encoder per query says True, and its
    callers run ``match`` in a worker thread (bot/kb.py).

    With ``static`` (the default) and the vectors file installed, locales in
    :data:`~knowledge.static_vectors.VECTOR_LOCALES` add static-vector scores to the lexical one.
    """

    embeds = False

    def __init__(
        self,
        entries: Sequence[KBEntry],
        default_locale: str,
        threshold: float = DEFAULT_THRESHOLD,
        static: bool = True,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.threshold = threshold
        #: Per-locale thresholds fitted on this KB (knowledge/calibration.py); a locale
        #: without one uses ``threshold``.
        self.thresholds = dict(thresholds or {})
        self._default_locale = default_locale
        self._groups = _by_locale(entries)
        self._indexes = {
            locale: _build_index(group, locale) for locale, group in self._groups.items()
        }
        vectors = sv.shared() if static else None
        self._vectors = {
            locale: _build_vectors(vectors, group)
            for locale, group in self._groups.items()
            if vectors is not None and locale.split("-", 1)[0] in sv.VECTOR_LOCALES
        }

    def scores(self, text: str, locale: str) -> tuple[str, Scores] | None:
        """(typo-corrected text, score per entry of ``locale``), None if nothing to compare.

        The score is the lexical one, plus the static-vector one where the locale has vectors.
        Both see the typo-corrected text: a misspelt word would fall apart into meaningless word
        pieces (BANKING77 dev: 79.3 % against 79.05 % for the raw text).
        """
        index = self._indexes.get(locale)
        if index is None:
            return None
        fixed = index.correct_typos(text)
        query = index.vectorize_fixed(fixed)
        if query.nnz == 0:
            return None
        scores = index.scores(query)
        vectors = self._vectors.get(locale)
        if vectors is not None:
            scores = scores + vectors.fused(fixed)
        return fixed, scores

    def warm_up(self) -> None:
        """Nothing to load: the words' index and the static vectors come with the matcher."""

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        fallback: tuple[Candidate, ...] = ()
        for loc in dict.fromkeys((locale, self._default_locale)):
            candidates = self._rank(text, loc, max(limit, 1))
            if candidates and candidates[0].score >= self.thresholds.get(loc, self.threshold):
                return MatchResult(candidates[:limit], True)
            fallback = fallback or candidates
        return MatchResult(fallback[:limit], False)

    def best_of(self, text: str, locale: str) -> tuple[str | None, float]:
        """The best entry of ``locale`` alone and its confidence (for calibration)."""
        ranked = self._rank(text, locale, 1)
        return (ranked[0].entry_id, ranked[0].score) if ranked else (None, 0.0)

    def _rank(self, text: str, locale: str, limit: int) -> tuple[Candidate, ...]:
        return self._ranked(self.scores(text, locale), locale, limit)

    def _ranked(
        self, scored: tuple[str, Scores] | None, locale: str, limit: int
    ) -> tuple[Candidate, ...]:
        """Calibrated candidates from :meth:`scores` (a subclass that needs the scores again,
        the fused matcher, computes them once)."""
        if scored is None:
            return ()
        fixed, scores = scored
        weights = STATIC_CALIBRATION if locale in self._vectors else LEXICAL_CALIBRATION
        return _candidates(self._indexes[locale], scores, limit, fixed, weights)


def _by_locale(entries: Sequence[KBEntry]) -> dict[str, list[KBEntry]]:
    """Enabled entries grouped by locale; a repeated (id, locale) keeps its last version."""
    groups: dict[str, dict[str, KBEntry]] = {}
    for entry in entries:
        if entry.enabled:
            groups.setdefault(entry.locale, {})[entry.id] = entry
    return {locale: list(group.values()) for locale, group in groups.items()}


def _build_index(entries: Sequence[KBEntry], locale: str) -> LocaleIndex:
    """Customer wordings count fully; the answer text helps with a lower weight."""
    wordings = []
    for number, entry in enumerate(entries):
        wordings += [Wording(number, text, 1.0) for text in entry.texts() if text.strip()]
        wordings += [Wording(number, part, ANSWER_WEIGHT) for part in split_answer(entry.answer)]
    return LocaleIndex([entry.id for entry in entries], wordings, locale)


def _build_vectors(vectors: sv.StaticVectors, entries: Sequence[KBEntry]) -> sv.VectorIndex:
    return sv.VectorIndex(vectors, len(entries), *describing_texts(entries))


def _candidates(
    index: LocaleIndex, scores: Scores, limit: int, fixed: str, weights: Calibration
) -> tuple[Candidate, ...]:
    """Top ``limit`` entries with calibrated confidences (``fixed``: typo-corrected query)."""
    take = min(limit + 1, scores.size)
    top = np.argpartition(-scores, take - 1)[:take]
    top = top[np.argsort(-scores[top], kind="stable")]
    values = [float(scores[i]) for i in top] + [0.0]
    # Each candidate is compared with its strongest rival: the runner-up for the best, the best
    # for everyone else, so confidences fall with rank.
    unknown = index.unknown(fixed)
    return tuple(
        Candidate(
            index.entry_ids[i],
            index.locale,
            calibrate(
                values[k], values[int(k == 0)], index.uncovered(fixed, int(i)), unknown, weights
            ),
        )
        for k, i in enumerate(top[:limit])
    )


def build_matcher(
    entries: Sequence[KBEntry],
    default_locale: str = "en",
    threshold: float | None = None,
    kind: str = "default",
    wrong_cost: float = calibration.WRONG_COST,
) -> Matcher:
    """Build a matcher over ``entries``.

    ``kind``: "auto" (the shipped default: "fused" for every locale of at most
    :data:`MAX_FUSED_WORDINGS` wordings, "default" for a larger one), "default" (lexical +
    static vectors),
    "lexical" (without the vectors: the default before issue 11's third pass), "fused"
    (default, then multilingual e5 where it is unsure, every locale: knowledge/fusion.py) or
    "semantic" (optional extra). Without a fixed
    ``threshold``, each locale's threshold is fitted on the KB's own wordings at the cost of a
    wrong answer ``wrong_cost`` (knowledge/calibration.py).
    """
    if kind not in KINDS:
        raise ValueError(
            f"unknown matcher kind {kind!r}: use 'auto', 'default', 'lexical', 'fused' or "
            "'semantic'"
        )
    if kind in FUSED_KINDS:
        from knowledge.fusion import build_fused

        skip = _too_big_to_fuse(entries) if kind == "auto" else frozenset()
        return build_fused(entries, default_locale, threshold, wrong_cost, skip)
    if kind == "semantic":
        from knowledge.semantic import build_semantic

        return build_semantic(entries, default_locale, threshold, wrong_cost)
    static = kind == "default"
    if threshold is not None:
        return LexicalMatcher(entries, default_locale, threshold, static=static)
    fitted = fit_thresholds(entries, static, wrong_cost)
    return LexicalMatcher(entries, default_locale, DEFAULT_THRESHOLD, static, fitted)


def _too_big_to_fuse(entries: Sequence[KBEntry]) -> frozenset[str]:
    """The locales with more than :data:`MAX_FUSED_WORDINGS` enabled wordings."""
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.enabled:
            counts[entry.locale] = counts.get(entry.locale, 0) + len(entry.texts())
    return frozenset(locale for locale, n in counts.items() if n > MAX_FUSED_WORDINGS)


def fit_thresholds(
    entries: Sequence[KBEntry], static: bool, wrong_cost: float = calibration.WRONG_COST,
    make: Callable[[Sequence[KBEntry], str], calibration.Ranker] | None = None,
) -> dict[str, float]:
    """Each locale's threshold fitted on its own entries (locales too small keep the default).

    ``make(kept, locale)`` builds the ranker of one held-out fold: by default the lexical
    matcher (with static vectors if ``static``); the semantic tier passes its own, so that
    its threshold is fitted on its confidences, not on the words'.
    """
    fitted: dict[str, float] = {}
    for locale in sorted({e.locale for e in entries if e.enabled}):
        def factory(kept: Sequence[KBEntry], locale: str = locale) -> calibration.Ranker:
            if make is not None:
                return make(kept, locale)
            return LexicalMatcher(kept, locale, static=static).best_of
        found = calibration.fit_threshold(entries, locale, factory, wrong_cost)
        if found is not None:
            # Never more cautious than the shipped default: held-out wordings of a small KB
            # are few and noisy (14 entries: 0.55-0.85 across locales), and the default is
            # already the cautious end (docs/matching.md, per-KB thresholds).
            fitted[locale] = min(found, DEFAULT_THRESHOLD)
    log.debug("fitted thresholds: %s", fitted)
    return fitted
