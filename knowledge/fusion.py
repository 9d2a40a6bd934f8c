"""The fused matcher (``CRMBOT_MATCHER=fused``, and ``auto``, the shipped default, for every
locale of at most MAX_FUSED_WORDINGS): word scores fused with multilingual e5.

Customers' paraphrases often share no word with the KB ("vai par piegādi uz mājām ir papildu
maksa" for "Cik maksā piegāde?"), and Swedish and Latvian have no static vectors. A
multilingual sentence encoder (knowledge/e5.py) knows those are close. Its cosine to each
entry's centroid of wordings (to its answer, embedded as an e5 passage, for an entry that has
no wordings) is fused with the lexical score as z-scores over the entries (equal weights, not
tuned); a KB with many wordings per entry adds the z-scores of a linear classifier trained on
its wordings' embeddings (knowledge/classifier.py). docs/matching.md has the measurements.

The cascade: the lexical matcher answers as before when it is confident (no encoder cost);
only an unsure question is embedded (10-20 ms on one core; the FAQ handler runs matching in a
worker thread for this kind) and ranked by the fusion, which chooses the suggestions. The
fused ranking gets its own confidence, fitted on the KB at hand when the matcher is built: the
held-out folds of the per-KB thresholds (knowledge/calibration.py) give questions whose answer
is known, and a logistic regression on (best fused score, its margin to the runner-up) maps
fused scores to P(right) (Platt scaling), which the suggestion floor (bot/kb.py SUGGEST_MIN)
reads. The fused ranking answers alone only where the KB trains the classifier and has at
least :data:`MIN_ANSWER_ENTRIES` entries, from
P(right) >= cost / (1 + cost) (0.8 at the shipped wrong-answer cost 4): there, held-out
wordings are like customers' questions and the map can be trusted (BANKING77 and HWU64,
K=10: answered alone 60.1 -> 64.6 % and 34.7 -> 43.2 % of questions, at 93.9 % and 98.3 %
answered accuracy). On a small KB (question + 2 phrasings) letting it answer (at the cheapest
threshold on its held-out questions) answered 10-22 of 72 paraphrased questions on the shop
KBs but only 68-70 % of them right, where the lexical answers alone are 80-100 % right, so
there it only suggests. A locale whose KB cannot be held out in turn (one wording per entry)
gets a map fitted once on other KBs (:data:`FALLBACK_PLATT`) and a cosine floor from texts
about nothing (:data:`NOISE`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge import calibration, classifier, e5
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
#: The cosine floor of the fusion: this quantile of the cosines of the KB's held-out
#: questions that the fused ranking got right. At 0.01, 93-100 % of the in-scope paraphrases
#: of the shop and sample KBs and 99 % of BANKING77's test questions are above it, and one of
#: ten off-topic texts ("7", "thanks", "I love pizza", "what is the weather in paris", ...) on
#: one of six KBs. At 0.05 top-1 fell more (HWU64 82.0 -> 80.9 %, against 81.7 % at 0.01).
COSINE_QUANTILE = 0.01
#: Entries a locale needs before its fused ranking may answer alone (besides the classifier's
#: five wordings per entry). The Swedish and Latvian shops (24 entries) with two customers'
#: questions taught per entry (bench/teach.py: five wordings each, so the classifier trains)
#: answered 54-67 % of their other paraphrases alone, only 77-88 % right, and answered 2-7 of
#: 15 out-of-scope questions ("kāda ir Austrālijas galvaspilsēta" -> store_location at 0.975),
#: while their held-out wordings had put only 4-8 of 72 above the 0.8: a few dozen entries and
#: folds of two thirds of them do not calibrate the map. BANKING77 (77) and HWU64 (64) do.
MIN_ANSWER_ENTRIES = 30
#: Texts about nothing, for the cosine floor of a locale that cannot be held out in turn
#: (where :data:`FALLBACK_PLATT` stands in): the floor is the best cosine any of them reaches
#: on the KB, so noise of that kind stays with the default ranking. A fixed floor cannot
#: serve such KBs: cosines to answers ("passage: " form) depend on the answers' length and
#: style (off-topic texts reached 0.78-0.82 on SweFAQ's long answers, 0.82-0.86 on five short
#: shop answers, where real questions reached 0.89-0.91).
NOISE = ("hi", "thank you", "okay", "123", "?", "test", "good morning", "hej hej",
         "tack så mycket", "sveiki", "paldies", "labdien")


class E5Index:
    """Per entry (one locale): the centroid of its wordings' e5 embeddings ("query: " form);
    an entry without wordings (an answer only, as in SweFAQ) is its answer's embedding in the
    "passage: " form, the side e5 is trained to retrieve for a query (SweFAQ dev top-1 of the
    fused ranking 57.3 -> 63.6 % against the answer's sentences embedded as queries). Adding
    the answer as a third signal for entries that have wordings was measured too and not kept:
    better on the shop KBs, worse on the sample KB and BANKING77 (docs/matching.md). With
    enough wordings per entry, the classifier of knowledge/classifier.py too."""

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
        self.classifier = None if bare else classifier.fit(
            vectors, np.asarray(owner, dtype=np.int64), len(entries))

    def signal(self, query: npt.NDArray[np.float32]) -> tuple[Vector, Vector]:
        """(the encoder's side of the fusion, the centroid cosines): the cosines' z-scores,
        plus the classifier's where the KB has one (knowledge/classifier.py)."""
        vector = query.astype(np.float64)
        cosines: Vector = vector @ self.centroids_t
        out = _z(cosines)
        if self.classifier is not None:
            out = out + _z(self.classifier.scores(vector))
        return out, cosines


def fused(lexical: Vector, index: E5Index, query: npt.NDArray[np.float32]
          ) -> tuple[Vector, Vector]:
    """(equal-weight z-scores over the entries, each score on its own scale otherwise; the
    centroid cosines, which keep what z-scores lose: how close the question is at all)."""
    signal, cosines = index.signal(query)
    return _z(lexical) + signal, cosines


def _z(values: Vector) -> Vector:
    spread = float(values.std())
    out: Vector = (values - values.mean()) / (spread if spread > 1e-9 else 1.0)
    return out


@dataclass(frozen=True, slots=True)
class LocaleFusion:
    """What one locale needs: the centroids and the Platt map of fused scores to P(right)."""

    index: E5Index
    platt: Platt
    #: P(right) from which the fused ranking answers alone; None: it only suggests. Set only
    #: where the KB trains the classifier (many wordings per entry, so held-out wordings look
    #: like customers' questions), has :data:`MIN_ANSWER_ENTRIES` entries, and the map is
    #: fitted on the KB's own held-out questions.
    answer_at: float | None = None
    #: The fusion speaks (ranks the suggestions, may answer) only for a question whose
    #: cosine to the fused best entry reaches this; below it the default ranking stands.
    #: z-scores rank the entries of any question: before the floor "7" got delivery_time
    #: (0.44) on the sample KB, and "what is the weather in paris" the exchange-rate entry of
    #: a small bank KB, answered alone (0.91). The KB's own held-out questions are rarely that
    #: far from their entry (:data:`COSINE_QUANTILE`); a KB that cannot be held out in turn
    #: gets the best cosine of texts about nothing (:data:`NOISE`). -1: no floor.
    cosine_floor: float = -1.0

    def answers(self, candidates: Sequence[Candidate]) -> bool:
        """Whether the best of these fused candidates may be answered alone."""
        return (self.answer_at is not None and bool(candidates)
                and candidates[0].score >= self.answer_at)

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
        wrong_cost: float = calibration.WRONG_COST,
    ) -> None:
        super().__init__(entries, default_locale, threshold, True, thresholds)
        # Answering is cheaper than abstaining when P(right) * 0 + (1 - P) * cost < 1.
        floor = wrong_cost / (1.0 + wrong_cost)
        self.fusion = {
            locale: found for locale, group in self._groups.items()
            if locale not in lexical_only
            and (found := _fit_locale(entries, group, locale,
                                      max(floor, self.thresholds.get(locale, threshold))))
            is not None
        }
        #: whether matching may run the encoder (bot/kb.py then matches in a worker thread)
        self.embeds = bool(self.fusion)

    def warm_up(self) -> None:
        """Load the encoder now rather than at the first unsure question (~0.2-0.4 s once;
        `kb eval` times queries after this, as a running server sees them). The server does
        not call it: a KB whose questions the words answer never needs the encoder's ~21 MB."""
        if self.embeds:
            e5.available()

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        fallback: tuple[Candidate, ...] = ()
        query: npt.NDArray[np.float32] | None = None
        for loc in dict.fromkeys((locale, self._default_locale)):
            scored = self.scores(text, loc)
            candidates = self._ranked(scored, loc, max(limit, 1))
            if candidates and candidates[0].score >= self.thresholds.get(loc, self.threshold):
                return MatchResult(candidates[:limit], True)
            fusion = self.fusion.get(loc)
            if fusion is not None and scored is not None:
                query = e5.embed(text) if query is None else query
                ranked, cosine = self._fused_rank(scored[1], loc, fusion, query, max(limit, 1))
                if cosine >= fusion.cosine_floor:
                    if fusion.answers(ranked):
                        return MatchResult(ranked[:limit], True)
                    candidates = _at_least(ranked, candidates) or candidates
            fallback = fallback or candidates
        return MatchResult(fallback[:limit], False)

    def _fused_rank(
        self, lexical: Vector, locale: str, fusion: LocaleFusion,
        query: npt.NDArray[np.float32], limit: int,
    ) -> tuple[tuple[Candidate, ...], float]:
        """The fused candidates (``lexical``: the words' scores of the entries) and the
        question's cosine to the best one."""
        values, cosines = fused(lexical, fusion.index, query)
        order = np.argsort(-values, kind="stable")[: limit + 1]
        top = [float(values[i]) for i in order] + [float(values[order[0]])]
        ids = self._indexes[locale].entry_ids
        return tuple(
            Candidate(ids[int(i)], locale,
                      fusion.confidence(top[k], top[1] if k == 0 else top[0]))
            for k, i in enumerate(order[:limit])
        ), float(cosines[order[0]])


def _at_least(fused: Sequence[Candidate], words: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """The fused candidates, each as confident as the words alone made it (if they ranked it):
    the suggestion floor (bot/kb.py) then hides no entry the default matcher would have
    shown. The fused map is the more cautious of the two on a KB of many wordings
    (BANKING77: right entries among the suggestions shown 714 -> 538 without this)."""
    alone = {c.entry_id: c.score for c in words}
    return tuple(Candidate(c.entry_id, c.locale, max(c.score, alone.get(c.entry_id, 0.0)))
                 for c in fused)


def _fit_locale(entries: Sequence[KBEntry], group: Sequence[KBEntry], locale: str,
                answer_at: float) -> LocaleFusion | None:
    """Platt map from held-out questions, :data:`FALLBACK_PLATT` when too few to fit; None
    for a locale of fewer than two entries (nothing to rank). The fused ranking answers alone
    from ``answer_at`` where :attr:`LocaleFusion.answer_at` says it may."""
    if len(group) < 2:
        return None
    index = E5Index(group)
    features, right, in_scope = _held_out(entries, locale)
    if sum(in_scope) < calibration.MIN_QUESTIONS or all(in_scope):
        return LocaleFusion(index, FALLBACK_PLATT, None, _noise_floor(index))
    platt = _platt(np.asarray([f[:2] for f in features]), np.asarray(right, dtype=np.float64))
    found = [f[2] for f, ok in zip(features, right, strict=True) if ok]
    floor = float(np.quantile(found, COSINE_QUANTILE)) if found else -1.0
    answers = index.classifier is not None and len(group) >= MIN_ANSWER_ENTRIES
    return LocaleFusion(index, platt, answer_at if answers else None, floor)


def _noise_floor(index: E5Index) -> float:
    """The best cosine of a :data:`NOISE` text to an entry of ``index``."""
    vectors = e5.embed_cached(list(NOISE)).astype(np.float64)
    return float((vectors @ index.centroids_t).max())


def _held_out(
    entries: Sequence[KBEntry], locale: str
) -> tuple[list[tuple[float, float, float]], list[bool], list[bool]]:
    """(best fused score, margin, cosine to the best entry) of each held-out question, whether
    it was right, whether it was in scope."""
    features: list[tuple[float, float, float]] = []
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
            values, cosines = fused(scored[1], index, vector)
            first, second = np.argsort(-values, kind="stable")[:2]
            best = float(values[first])
            features.append((best, best - float(values[second]), float(cosines[first])))
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
    return FusedMatcher(entries, default_locale, chosen, fitted, lexical_only, wrong_cost)
