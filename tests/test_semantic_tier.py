"""How the semantic tier is put together, without torch: a stand-in encoder replaces MiniLM.

The tier's English thresholds are fitted on the KB like the default tier's, and its other
languages are served by the shipped ``auto`` tier, so picking ``semantic`` for English costs
Swedish and Latvian customers nothing. tests/test_semantic.py checks the real model where the
extra is installed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from bot.kb import KnowledgeService
from knowledge import semantic
from knowledge.matcher import build_matcher
from tests.test_matcher import shop_entries
from tests.test_matcher_fused import amatch_threads

DIMS = 64


def bag_of_words(texts: Sequence[str]) -> semantic.Vectors:
    """A deterministic stand-in sentence encoder: hashed words, L2-normalised."""
    out = np.zeros((len(texts), DIMS), np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, hashlib.sha1(word.encode()).digest()[0] % DIMS] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "load_encoder", lambda: bag_of_words)


@pytest.mark.usefixtures("stand_in")
def test_english_thresholds_are_fitted_on_the_kb_with_the_semantic_matcher() -> None:
    matcher = build_matcher(shop_entries(), kind="semantic")
    assert isinstance(matcher, semantic.SemanticMatcher) and matcher.embeds
    assert set(matcher.thresholds) == {"en"}
    assert 0.05 <= matcher.thresholds["en"] <= semantic.SEMANTIC_THRESHOLD
    fixed = build_matcher(shop_entries(), kind="semantic", threshold=0.9)
    assert isinstance(fixed, semantic.SemanticMatcher) and fixed.thresholds == {}


@pytest.mark.usefixtures("stand_in")
@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Hur återställer jag mitt lösenord?", "sv"),
        ("paketet kom aldrig fram", "sv"),
        ("Kā es varu atgriezt preci?", "lv"),
        ("cik ilgi jāgaida piegāde", "lv"),
    ],
)
def test_other_languages_get_exactly_the_auto_tier(text: str, locale: str) -> None:
    semantic_tier = build_matcher(shop_entries(), kind="semantic")
    auto = build_matcher([e for e in shop_entries() if e.locale != "en"], kind="auto")
    assert semantic_tier.match(text, locale) == auto.match(text, locale)
    assert semantic_tier.match(text, locale).candidates


@pytest.mark.usefixtures("stand_in")
def test_english_is_ranked_by_the_encoder() -> None:
    matcher = build_matcher(shop_entries(), kind="semantic")
    best = matcher.match("How do I cancel my order?", "en").best
    assert best is not None and (best.entry_id, best.locale) == ("cancel_order", "en")


async def test_the_service_matches_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """MiniLM takes ~20-30 ms per English question: before `embeds`, the semantic tier ran it
    on the event loop, stalling every other conversation meanwhile."""
    monkeypatch.setattr(semantic, "load_encoder", lambda: bag_of_words)
    service = KnowledgeService("en", kind="semantic")
    await service._load(shop_entries(), 1)
    result, threads = await amatch_threads(service, "How do I cancel my order?", "en")
    assert threads and threads[0] != threading.get_ident()
    assert result.best is not None and result.best.entry_id == "cancel_order"


@pytest.mark.usefixtures("stand_in")
def test_warming_up_loads_the_other_languages_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kb eval` warms a matcher before timing it; the semantic tier hands that to the `auto`
    matcher of its other languages, whose encoder would otherwise load inside a timed query."""
    from knowledge import e5

    loaded: list[bool] = []
    monkeypatch.setattr(e5, "available", lambda: loaded.append(True) or True)
    matcher = build_matcher(shop_entries(), kind="semantic")
    assert isinstance(matcher, semantic.SemanticMatcher)
    loaded.clear()  # the build asked whether the encoder loads here
    matcher.warm_up()
    assert loaded == [True]
