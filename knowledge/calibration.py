"""Per-KB abstention: the confidence a knowledge base needs before the bot answers alone.

One fixed threshold cannot fit every knowledge base. A small shop KB with three wordings per
entry gives other scores and margins than a bank's 77 intents with ten each, and a threshold
fitted on one benchmark made the bot abstain on half the questions it would have answered
right. So the threshold is fitted on the knowledge base at hand, from its own wordings, when
the matcher is built:

- **in scope**: one wording of an entry is held out and asked; the entry is still in the KB
  (with its other wordings), so the right answer is that entry;
- **out of scope**: an entry is removed whole and its wordings are asked; whatever the matcher
  picks is wrong, so the right move is to abstain.

Entries are split into :data:`FOLDS` folds; each fold is one matcher build without its
held-out texts. The threshold is the one with the lowest expected cost on these questions: a
wrong answer costs ``wrong_cost`` (4: it misleads), an abstention on an in-scope question
costs 1 (the customer picks a suggestion or gets a person), in-scope and out-of-scope questions
weighing half each. Large KBs are calibrated on a sample of entries (:data:`MAX_WORDINGS`), so
building costs a bounded extra. A KB too small to learn from (fewer than :data:`MIN_ENTRIES`
entries with two wordings) keeps the default threshold.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.entries import KBEntry

FOLDS = 3
#: A small KB gets more folds (more held-out questions, each build is cheap): enough that
#: about :data:`TARGET_QUESTIONS` wordings are asked in all, up to :data:`MAX_FOLDS` builds.
MAX_FOLDS = 4
TARGET_QUESTIONS = 200
MIN_ENTRIES = 6
MIN_QUESTIONS = 12
MAX_WORDINGS = 2500
WRONG_COST = 4.0
ABSTAIN_COST = 1.0
#: The share of out-of-scope questions in the traffic the threshold is fitted for.
OOS_SHARE = 0.25
GRID = tuple(round(0.05 + 0.025 * i, 3) for i in range(37))  # 0.05 … 0.95

#: Ranks one text in one locale: (best entry id or None, its confidence).
Ranker = Callable[[str, str], tuple[str | None, float]]
#: Builds a ranker over some entries (the same kind of matcher, without calibration).
RankerFactory = Callable[[Sequence[KBEntry]], Ranker]


@dataclass(frozen=True, slots=True)
class Trial:
    """One held-out question: the confidence of the best candidate and whether it was right
    (for an out-of-scope question, ``right`` is always False: answering is wrong)."""

    confidence: float
    right: bool
    in_scope: bool


def fit_threshold(
    entries: Sequence[KBEntry], locale: str, factory: RankerFactory,
    wrong_cost: float = WRONG_COST, seed: int = 0,
) -> float | None:
    """The cheapest threshold for ``locale``'s entries, or None when the KB is too small."""
    mine = _sample([e for e in entries if e.locale == locale and e.enabled], seed)
    if sum(len(e.texts()) >= 2 for e in mine) < MIN_ENTRIES:
        return None
    trials = held_out_trials(mine, locale, factory, seed)
    if sum(t.in_scope for t in trials) < MIN_QUESTIONS or all(t.in_scope for t in trials):
        return None
    return cheapest(trials, wrong_cost)


def held_out_trials(
    entries: Sequence[KBEntry], locale: str, factory: RankerFactory, seed: int = 0
) -> list[Trial]:
    """Ask every fold's held-out wordings of a matcher built without them. In each fold a
    third of the entries leave the KB whole (out of scope) and every other entry with two or
    more wordings lends one of them, chosen in turn (in scope)."""
    trials: list[Trial] = []
    for kept, questions in held_out_folds(entries, seed):
        rank = factory(kept)
        for text, expected in questions:
            best, confidence = rank(text, locale)
            trials.append(Trial(confidence, expected is not None and best == expected,
                                expected is not None))
    return trials


def held_out_folds(
    entries: Sequence[KBEntry], seed: int = 0
) -> list[tuple[list[KBEntry], list[tuple[str, str | None]]]]:
    """Each fold's KB and its questions (text, expected id; None: out of scope)."""
    rng = random.Random(seed)
    order = list(entries)
    rng.shuffle(order)
    folds = min(MAX_FOLDS, max(FOLDS, -(-TARGET_QUESTIONS // max(len(order), 1))))
    return [_fold(entries, {e.id for e in order[fold::folds]}, fold) for fold in range(folds)]


def sample(entries: Sequence[KBEntry], locale: str, seed: int = 0) -> list[KBEntry]:
    """``locale``'s enabled entries, at most :data:`MAX_WORDINGS` wordings' worth."""
    return _sample([e for e in entries if e.locale == locale and e.enabled], seed)


def _fold(
    entries: Sequence[KBEntry], removed: set[str], fold: int
) -> tuple[list[KBEntry], list[tuple[str, str | None]]]:
    """The KB of one fold and its questions (text, expected id; None: out of scope)."""
    kept: list[KBEntry] = []
    questions: list[tuple[str, str | None]] = []
    for entry in entries:
        texts = entry.texts()
        if entry.id in removed:
            questions += [(t, None) for t in texts[:2]]
            continue
        if len(texts) >= 2:
            held = fold % len(texts)
            questions.append((texts[held], entry.id))
            rest = [t for i, t in enumerate(texts) if i != held]
            entry = entry.model_copy(update={"question": rest[0], "phrasings": tuple(rest[1:])})
        kept.append(entry)
    return kept, questions


def cheapest(
    trials: Sequence[Trial], wrong_cost: float = WRONG_COST, oos_share: float = OOS_SHARE
) -> float:
    """The grid threshold with the lowest expected cost (ties: the lower threshold, which
    answers more)."""
    inside = [t for t in trials if t.in_scope]
    outside = [t for t in trials if not t.in_scope]

    def cost(threshold: float) -> float:
        def per(t: Trial) -> float:
            if t.confidence < threshold:
                return ABSTAIN_COST if t.in_scope else 0.0
            return 0.0 if t.right else wrong_cost
        return ((1 - oos_share) * sum(map(per, inside)) / max(len(inside), 1)
                + oos_share * sum(map(per, outside)) / max(len(outside), 1))

    return min(GRID, key=lambda threshold: (cost(threshold), threshold))


def _sample(entries: list[KBEntry], seed: int) -> list[KBEntry]:
    """At most :data:`MAX_WORDINGS` wordings' worth of entries, chosen at random."""
    total = sum(len(e.texts()) for e in entries)
    if total <= MAX_WORDINGS:
        return entries
    rng = random.Random(seed)
    shuffled = list(entries)
    rng.shuffle(shuffled)
    picked: list[KBEntry] = []
    count = 0
    for entry in shuffled:
        if count >= MAX_WORDINGS:
            break
        picked.append(entry)
        count += len(entry.texts())
    return picked
