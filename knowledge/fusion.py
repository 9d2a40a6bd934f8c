"""The fused matcher (``CRMBOT_MATCHER=fused``): word scores fused with multilingual e5.

Swedish and Latvian have no static vectors, and customers' paraphrases often share no word
with the KB ("vai par piegādi uz mājām ir papildu maksa" for "Cik maksā piegāde?"). A
multilingual sentence encoder (knowledge/e5.py) knows those are close. Its cosine to each
entry's centroid of wordings (to its answer, embedded as an e5 passage, for an entry that has
no wordings) is fused with the lexical score as z-scores over the entries (equal weights, not
tuned); docs/matching.md has the measurements.

The cascade: the lexical matcher answers as before when it is confident (no encoder cost);
only an unsure question is embedded (10-20 ms on one core; the FAQ handler runs matching in a
worker thread for this kind) and ranked by the fusion, which chooses the suggestions. The
fused ranking gets its own confidence, fitted on the KB at hand when the matcher is built: the
held-out folds of the per-KB thresholds (knowledge/calibration.py) give questions whose answer
is known, and a logistic regression on (best fused score, its margin to the runner-up) maps
fused scores to P(right) (Platt scaling), which the suggestion floor (bot/kb.py SUGGEST_MIN)
reads. A fused ranking never answers alone: letting it (at the cheapest threshold on those
held-out questions) answered 10-22 of 72 paraphrased questions on the small shop KBs but only
68-70 % of them right, where the lexical answers alone are 80-100 % right. A locale whose KB
cannot be held out in turn (one wording per entry) gets a map fitted once on other KBs
(:data:`FALLBACK_PLATT`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge import calibration, e5
from knowledge._index import describing_texts
from knowledge.entries import KBEntry
from knowledge.matcher import (
    DEFAULT_THRESHOLD,
    Candidate,
    LexicalMatcher,
    MatchResult,
    fit_thresholds,
)

Vector = npt.NDArray[np.float64]
#: Platt parameters: P(right) = sigmoid(bias + w_best * best + w_margin * margin).
Platt = tuple[float, float, float]
#: L2 penalty of the Platt fit: a few hundred held-out questions, three parameters.
RIDGE = 0.01
#: The map for a locale whose KB cannot be held out in turn (fewer than
#: calibration.MIN_ENTRIES entries with two wordings: SweFAQ-like KBs of one question per
#: entry): the fit over the pooled held-out questions of the sample KB (en, sv, lv) and the
#: Swedish and Latvian shop KBs, 450 questions (``bench/e5_fusion.py --platt`` prints it).
#: Per-KB fits ranged from (-2.8, 0.22, 0.55) to (-10.3, 2.8, -0.45); the pooled map is the
#: middle ground, used only where no fit of the KB's own is possible.
FALLBACK_PLATT: Platt = (-4.072, 0.657, 0.399)


class E5Index:
    """Per entry (one locale): the centroid of its wordings' e5 embeddings ("query: " form);
    an entry without wordings (an answer only, as in SweFAQ) is its answer's embedding in the
    "passage: " form, the side e5 is trained to retrieve for a query (SweFAQ dev top-1 of the
    fused ranking 57.3 -> 63.6 % against the answer's sentences embedded as queries). Adding
    the answer as a third signal for entries that have wordings was measured too and not kept:
    better on the shop KBs, worse on the sample KB and BANKING77 (docs/matching.md)."""

    def __init__(self, entries: Sequence[KBEntry]) -> None:
        worded: list[int] = []
        bare: list[int] = []
        for number, entry in enumerate(entries):
            (worded if any(t.strip() for t in entry.texts()) else bare).append(number)
        texts, owner = describing_texts([entries[n] for n in worded])
        vectors = e5.embed_cached(texts).astype(np.float64)
        sums = np.zeros((len(entries), e5.DIMS))
        np.add.at(sums, np.asarray([worded[o] for o in owner], dtype=np.int64), vectors)
        if bare:
            answers = e5.embed_cached([entries[n].answer for n in bare], passage=True)
            sums[bare] = answers.astype(np.float64)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        self.centroids_t = (sums / np.where(norms > 0, norms, 1.0)).T.copy()

    def cosines(self, query: npt.NDArray[np.float32]) -> Vector:
        out: Vector = query.astype(np.float64) @ self.centroids_t
        return out


def fused(lexical: Vector, cosines: Vector) -> Vector:
    """Equal-weight z-scores over the entries (each score on its own scale otherwise)."""
    return _z(lexical) + _z(cosines)


def _z(values: Vector) -> Vector:
    spread = float(values.std())
    out: Vector = (values - values.mean()) / (spread if spread > 1e-9 else 1.0)
    return out


@dataclass(frozen=True, slots=True)
class LocaleFusion:
    """What one locale needs: the centroids and the Platt map of fused scores to P(right)."""

    index: E5Index
    platt: Platt

    def confidence(self, best: float, rival: float) -> float:
        bias, w_best, w_margin = self.platt
        z = bias + w_best * best + w_margin * (best - rival)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


class FusedMatcher(LexicalMatcher):
    """:class:`LexicalMatcher` first; the fusion where it is unsure (see the module doc), in
    every locale but those in ``lexical_only``."""

    def __init__(
        self, entries: Sequence[KBEntry], default_locale: str, threshold: float,
        thresholds: dict[str, float], lexical_only: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(entries, default_locale, threshold, True, thresholds)
        self.fusion = {
            locale: found for locale, group in self._groups.items()
            if locale not in lexical_only
            and (found := _fit_locale(entries, group, locale)) is not None
        }
        #: whether matching may run the encoder (bot/kb.py then matches in a worker thread)
        self.embeds = bool(self.fusion)

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        fallback: tuple[Candidate, ...] = ()
        query: npt.NDArray[np.float32] | None = None
        for loc in dict.fromkeys((locale, self._default_locale)):
            candidates = self._rank(text, loc, max(limit, 1))
            if candidates and candidates[0].score >= self.thresholds.get(loc, self.threshold):
                return MatchResult(candidates[:limit], True)
            fusion = self.fusion.get(loc)
            if fusion is not None:
                query = e5.embed(text) if query is None else query
                candidates = self._fused_rank(text, loc, fusion, query, max(limit, 1)) or (
                    candidates)
            fallback = fallback or candidates
        return MatchResult(fallback[:limit], False)

    def _fused_rank(
        self, text: str, locale: str, fusion: LocaleFusion, query: npt.NDArray[np.float32],
        limit: int,
    ) -> tuple[Candidate, ...]:
        scored = self.scores(text, locale)
        if scored is None:
            return ()
        values = fused(scored[1], fusion.index.cosines(query))
        order = np.argsort(-values, kind="stable")[: limit + 1]
        top = [float(values[i]) for i in order] + [float(values[order[0]])]
        ids = self._indexes[locale].entry_ids
        return tuple(
            Candidate(ids[int(i)], locale,
                      fusion.confidence(top[k], top[1] if k == 0 else top[0]))
            for k, i in enumerate(order[:limit])
        )


def _fit_locale(entries: Sequence[KBEntry], group: Sequence[KBEntry], locale: str
                ) -> LocaleFusion | None:
    """Platt map from held-out questions, :data:`FALLBACK_PLATT` when too few to fit; None
    for a locale of fewer than two entries (nothing to rank)."""
    if len(group) < 2:
        return None
    features, right, in_scope = _held_out(entries, locale)
    if sum(in_scope) < calibration.MIN_QUESTIONS or all(in_scope):
        return LocaleFusion(E5Index(group), FALLBACK_PLATT)
    platt = _platt(np.asarray(features), np.asarray(right, dtype=np.float64))
    return LocaleFusion(E5Index(group), platt)


def _held_out(
    entries: Sequence[KBEntry], locale: str
) -> tuple[list[tuple[float, float]], list[bool], list[bool]]:
    """(best fused score, margin) of each held-out question, whether it was right, in scope."""
    features: list[tuple[float, float]] = []
    right: list[bool] = []
    in_scope: list[bool] = []
    mine = calibration.sample(entries, locale)
    if sum(len(e.texts()) >= 2 for e in mine) < calibration.MIN_ENTRIES:
        return features, right, in_scope
    for kept, questions in calibration.held_out_folds(mine):
        lexical = LexicalMatcher(kept, locale, DEFAULT_THRESHOLD)
        index = E5Index([e for e in kept if e.locale == locale])
        ids = lexical._indexes[locale].entry_ids if locale in lexical._indexes else []
        vectors = e5.embed_cached([text for text, _ in questions])
        for (text, expected), vector in zip(questions, vectors, strict=True):
            scored = lexical.scores(text, locale)
            if scored is None or len(ids) < 2:
                continue
            values = fused(scored[1], index.cosines(vector))
            first, second = np.argsort(-values, kind="stable")[:2]
            best = float(values[first])
            features.append((best, best - float(values[second])))
            right.append(expected is not None and ids[int(first)] == expected)
            in_scope.append(expected is not None)
    return features, right, in_scope


def _platt(features: npt.NDArray[np.float64], right: Vector) -> Platt:
    """Ridge logistic regression by Newton steps (three parameters: closed form is enough)."""
    x = np.column_stack([np.ones(len(features)), features])
    w = np.zeros(3)
    penalty = RIDGE * np.diag([0.0, 1.0, 1.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        gradient = x.T @ (p - right) + penalty @ w
        hessian = (x.T * (p * (1 - p))) @ x + penalty + 1e-9 * np.eye(3)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return float(w[0]), float(w[1]), float(w[2])


def build_fused(
    entries: Sequence[KBEntry], default_locale: str, threshold: float | None, wrong_cost: float,
    lexical_only: frozenset[str] = frozenset(),
) -> LexicalMatcher:
    """The fused matcher, or the default one when the encoder cannot load here or every
    locale of the KB is in ``lexical_only`` (the encoder is then never loaded)."""
    fitted = {} if threshold is not None else fit_thresholds(entries, True, wrong_cost)
    chosen = DEFAULT_THRESHOLD if threshold is None else threshold
    if {e.locale for e in entries} <= lexical_only or not e5.available():
        return LexicalMatcher(entries, default_locale, chosen, True, fitted)
    return FusedMatcher(entries, default_locale, chosen, fitted, lexical_only)
