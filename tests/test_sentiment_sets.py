"""Negative-review detection (handlers/intake/sentiment.py) on written review sets, en/sv/lv.

``tests/data/reviews/{en,sv,lv}.jsonl`` (50 each, 25 negative) is the development set: the
lexicon and the negation/intensifier rules were adjusted while looking at it, so its figures are
a regression guard, not an estimate. ``heldout/`` (20 each) was written after the rules were
frozen; the review model (handlers/intake/review_model.py) is fitted on both and on
``train_extra/`` (neutral questions, complaints asked as questions). ``unseen/`` (50 each) and
``fresh/`` (30 each) are never fitted on; ``unseen/``'s false alarms showed the gap
``train_extra/`` fills, so ``fresh/``, written before the refitted model was measured, is the
estimate. bench/sentiment.py prints them all (docs/benchmarks.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.intake import sentiment

DATA = Path(__file__).resolve().parent / "data" / "reviews"


def _rows(path: Path) -> list[tuple[str, bool]]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [(str(r["text"]), bool(r["negative"])) for r in rows]


def figures(path: Path, model: bool = True) -> tuple[int, float, float]:
    rows = _rows(path)
    recall, precision = sentiment.measure(rows, model=model)
    return len(rows), recall, precision


def test_fresh_reviews_recall_and_precision() -> None:
    """Issue 30's goal, recall >= 90 % at precision >= 85 %, on reviews written before the
    model was measured on them and never fitted on (measured: 100 % / 93.8 %)."""
    rows = [row for language in ("en", "sv", "lv")
            for row in _rows(DATA / "fresh" / f"{language}.jsonl")]
    assert len(rows) == 90 and sum(truth for _, truth in rows) == 45
    recall, precision = sentiment.measure(rows)
    assert recall >= 0.9 and precision >= 0.85, (recall, precision)
    for language in ("en", "sv", "lv"):
        _, recall, precision = figures(DATA / "fresh" / f"{language}.jsonl")
        assert recall >= 0.9 and precision >= 0.85, (language, recall, precision)


def test_unseen_reviews_recall_and_precision() -> None:
    """Never fitted on, but its false alarms (neutral questions) led to train_extra/: a
    regression guard (measured 94.7 % / 97.3 %), not the estimate."""
    rows = [row for language in ("en", "sv", "lv")
            for row in _rows(DATA / "unseen" / f"{language}.jsonl")]
    assert len(rows) == 150 and sum(truth for _, truth in rows) == 75
    recall, precision = sentiment.measure(rows)
    assert recall >= 0.9 and precision >= 0.85, (recall, precision)


def test_the_lexicon_alone_is_never_wrong_when_it_fires() -> None:
    """Its precision is why it decides first; the model is asked only where it is silent."""
    for folder in ("", "heldout", "unseen", "fresh"):
        for language in ("en", "sv", "lv"):
            _, recall, precision = figures(DATA / folder / f"{language}.jsonl", model=False)
            assert precision == 1.0 and recall >= 0.4, (folder, language, recall)


def test_without_the_model_the_lexicon_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.intake import review_model

    monkeypatch.setattr(review_model, "embedder", lambda: None)
    text = "Delivery was supposed to take 2 days, it took 12."
    assert review_model.negative_probability(text) is None
    assert sentiment.classify(text) == "neutral"


@pytest.mark.parametrize("language", ["en", "sv", "lv"])
def test_development_set_recall_and_precision(language: str) -> None:
    n, recall, precision = figures(DATA / f"{language}.jsonl")
    assert n >= 50
    assert recall >= 0.9 and precision >= 0.85, (recall, precision)


@pytest.mark.parametrize(("text", "expected"), [
    ("Paketet kom aldrig, usel service", "negative"),  # the negator belongs to "kom aldrig"
    ("Paka nav pienākusi, ļoti slikts serviss", "negative"),
    ("Not bad at all, would order again.", "neutral"),
    ("Inga problem med min beställning.", "neutral"),
    ("Nekādu problēmu ar pasūtījumu.", "neutral"),
    ("Support solved my problem in ten minutes.", "neutral"),
    ("Not happy. Good packaging though.", "neutral"),  # the clauses weigh each other out
])
def test_negation_stays_in_its_clause(text: str, expected: str) -> None:
    assert sentiment.classify(text, model=False) == expected


def test_intensifiers_make_words_stronger() -> None:
    assert sentiment.score("very rude") < sentiment.score("rude") < 0
    assert sentiment.score("ļoti slikts") < sentiment.score("slikts")
    assert sentiment.score("väldigt bra") > sentiment.score("bra") > 0
