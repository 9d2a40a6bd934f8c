"""The lexical index's hand-made TF-IDF and its analysis cache, which make KB edits cheap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge import _index
from knowledge import normalize as nz
from knowledge.entries import KBEntry
from knowledge.matcher import build_matcher

TEXTS = [
    "Where is my order?",
    "My package has not arrived yet, where is it?",
    "Hur lång är leveranstiden?",
    "Kur ir mans pasūtījums?",
    "refund refund refund please",
    "!!!",
]


def _reference(kind: str, locale: str) -> TfidfVectorizer:
    """scikit-learn's vectorizer with the options the index reproduces by hand."""
    if kind == "char":
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
            preprocessor=nz.folded_text,
        )
    analyse = _index._word_features(locale) if kind == "word" else _index._content_features(locale)
    return TfidfVectorizer(analyzer=analyse, sublinear_tf=True)


@pytest.mark.parametrize("kind", ["word", "content", "char"])
def test_feature_space_equals_scikit_learn_tfidf(kind: str) -> None:
    """Same rows up to column order: compare the texts' pairwise cosines and a query's scores."""
    space = _index._FeatureSpace(kind, "en", TEXTS)
    reference = _reference(kind, "en")
    expected = reference.fit_transform(TEXTS)
    assert space.width == expected.shape[1]
    np.testing.assert_allclose(
        (space.matrix @ space.matrix.T).toarray(), (expected @ expected.T).toarray(), atol=1e-5
    )
    query = "where is my refund package"
    encoded = space.encode(query)
    mine = np.zeros(space.width)
    mine[list(encoded)] = list(encoded.values())
    theirs = reference.transform([query]).toarray().ravel()
    mine_scores = space.matrix @ (mine / np.linalg.norm(mine))
    np.testing.assert_allclose(mine_scores, expected @ theirs, atol=1e-5)


def _entries(extra: tuple[str, ...] = ()) -> list[KBEntry]:
    return [
        KBEntry(id="order", locale="en", question="Where is my order?",
                phrasings=("Track my order", *extra), answer="Use the tracking link."),
        KBEntry(id="refund", locale="en", question="When will I get my refund?",
                phrasings=("How long does a refund take?",), answer="Within 5 days."),
    ]


def test_edit_takes_effect_on_rebuild_and_matches_a_cold_build() -> None:
    """Cached analyses from the old KB version neither leak into nor change the new one."""
    question = "is my zeppelin parcel lost"
    before = build_matcher(_entries()).match(question, "en")
    assert not before.confident
    edited = _entries(extra=("My zeppelin parcel is lost",))
    warm = build_matcher(edited).match(question, "en")
    assert warm.best is not None and warm.best.entry_id == "order" and warm.confident
    _index._counted.cache_clear()
    cold = build_matcher(edited).match(question, "en")
    assert warm == cold
    reverted = build_matcher(_entries()).match(question, "en")
    assert reverted == before


def test_kb_without_any_features_builds_and_abstains() -> None:
    entries = [KBEntry(id="dots", locale="en", question="...", phrasings=("?!",), answer="-")]
    result = build_matcher(entries).match("anything at all", "en")
    assert not result.confident


@pytest.mark.parametrize("text", [
    *TEXTS, "", "a", "ab", "I  am\tfine\n\nthanks", "pasūtījums beställningen x yz",
    "\u00a0nbsp\u2003em space", "supercalifragilisticexpialidocious",
])
def test_char_ngrams_equal_scikit_learn_char_wb(text: str) -> None:
    """The hand-written analyser (no scikit-learn import at start-up) is scikit-learn's."""
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False)
    assert _index.char_wb_ngrams(text) == reference.build_analyzer()(text)
