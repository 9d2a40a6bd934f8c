"""Static word-piece vectors (knowledge/static_vectors.py) and their use in the default matcher."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge import static_vectors as sv
from knowledge.matcher import LexicalMatcher, build_matcher
from tests.test_matcher import shop_entries

ROOT = Path(__file__).resolve().parents[1]
TINY_VOCAB = ["un", "##aff", "##able", "aff", "able", "the", "##s", "card", "?", "e"]


def _tiny() -> sv.StaticVectors:
    return sv.StaticVectors(TINY_VOCAB, np.eye(len(TINY_VOCAB), dtype=np.float16))


def _distill_module() -> object:
    """bench/distill_static.py, imported without running it (it needs torch only in main())."""
    path = ROOT / "bench/distill_static.py"
    spec = importlib.util.spec_from_file_location("distill_static", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["distill_static"] = module
    spec.loader.exec_module(module)
    return module


def test_basic_tokens_follow_bert_uncased() -> None:
    assert sv.basic_tokens("Where's my CARD?!  Café-au-lait") == [
        "where", "'", "s", "my", "card", "?", "!", "cafe", "-", "au", "-", "lait",
    ]
    assert sv.basic_tokens("你好 ok") == ["你", "好", "ok"]


def test_word_pieces_are_greedy_longest_match_and_unknown_words_are_skipped() -> None:
    vectors = _tiny()
    names = [TINY_VOCAB[row] for row in vectors.rows("Unaffable cards? xyz")]
    assert names == ["un", "##aff", "##able", "card", "##s", "?"]
    assert vectors.rows("xyz") == []
    assert not vectors.embed("xyz").any()


def test_distill_script_spells_words_like_the_run_time_tokeniser() -> None:
    """The script credits frequencies and whole words by the spelling used at run time."""
    speller = _distill_module().Speller(TINY_VOCAB)  # type: ignore[attr-defined]
    vectors = _tiny()
    for word in ("unaffable", "cards", "affable", "xyz", "e"):
        assert speller.ids(word) == vectors._word_rows(word), word


def test_embedding_is_unit_mean_of_piece_vectors() -> None:
    vectors = _tiny()
    got = vectors.embed("the card")
    expected = np.zeros(len(TINY_VOCAB), np.float32)
    expected[[TINY_VOCAB.index("the"), TINY_VOCAB.index("card")]] = 1 / np.sqrt(2)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_shipped_vectors_load_and_carry_meaning() -> None:
    vectors = sv.shared()
    assert vectors is not None, f"{sv.DATA_FILE} missing: run bench/distill_static.py"
    assert vectors.dims == 256
    lost = vectors.embed("I lost my card")
    assert float(lost @ vectors.embed("my card is missing")) > float(
        lost @ vectors.embed("what is the exchange rate")
    ) + 0.2


def test_one_wording_per_entry_makes_whitening_the_identity() -> None:
    vectors = _tiny()
    index = sv.VectorIndex(vectors, 3, ["the card", "able"], [0, 2])
    centroid, nearest, whitened = index.scores("card")
    np.testing.assert_allclose(whitened, centroid, atol=1e-6)
    np.testing.assert_allclose(nearest, centroid, atol=1e-6)
    assert centroid[1] == 0.0 and nearest[1] == 0.0  # entry 1 has no wordings
    assert int(np.argmax(centroid)) == 0


def test_whitening_discounts_directions_that_vary_within_entries() -> None:
    """Entry 0's wordings differ only in "the"/"able", so "able" says little about entry 0:
    the plain centroid prefers entry 1 (which shares the repeated "able"), the whitened one the
    entry that shares the distinctive word "card"."""
    vectors = _tiny()
    texts = ["card the", "card able", "aff able", "aff able"]
    index = sv.VectorIndex(vectors, 2, texts, [0, 0, 1, 1])
    centroid, _, whitened = index.scores("card able able able")
    assert centroid[1] > centroid[0]
    assert whitened[0] > whitened[1]


def test_lexical_kind_ignores_vectors_and_default_uses_them_for_english_only() -> None:
    lexical = LexicalMatcher(shop_entries(), "en", static=False)
    default = build_matcher(shop_entries())
    assert isinstance(default, LexicalMatcher)
    text = "how fast do you ship"
    en_lex, en_def = lexical.scores(text, "en"), default.scores(text, "en")
    assert en_lex is not None and en_def is not None
    assert not np.allclose(en_lex[1], en_def[1])
    sv_lex, sv_def = lexical.scores("hur snabbt levererar ni", "sv"), default.scores(
        "hur snabbt levererar ni", "sv"
    )
    assert sv_lex is not None and sv_def is not None
    np.testing.assert_array_equal(sv_lex[1], sv_def[1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("how fast do you ship", "delivery_time"),
     ("what payment options are there", "payment_methods")],
)
def test_vectors_bridge_paraphrases_the_lexical_matcher_misses(text: str, expected: str) -> None:
    lexical = build_matcher(shop_entries(), kind="lexical").match(text, "en").best
    default = build_matcher(shop_entries()).match(text, "en").best
    assert lexical is not None and lexical.entry_id != expected
    assert default is not None and default.entry_id == expected


def test_missing_vectors_file_falls_back_to_lexical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sv, "DATA_FILE", ROOT / "no-such-vectors.npz")
    monkeypatch.setattr(sv, "_shared", None)
    matcher = build_matcher(shop_entries())
    assert isinstance(matcher, LexicalMatcher) and matcher._vectors == {}
    best = matcher.match("Where is my order?", "en").best
    assert best is not None and best.entry_id == "where_is_my_order"
