"""Language detection on short real-world support messages (sv/lv/en).

Measured on tests/data/short_messages.yaml (36 messages, 12 per language, 2-6 words, lower case,
no punctuation): 36/36 detected correctly, 0 abstentions, 0 wrong guesses (lingua 2.1,
restricted to en/sv/lv, confidence >= 0.75). The test allows a little slack for model updates
(>= 34/36) but no confident wrong answer: a wrong language is worse than no guess, because no
guess keeps the customer's remembered language.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.core import Core
from bot.language import detect
from storage.models import Customer
from tests.identity_support import Person, channels

TABLE = Path(__file__).parent / "data" / "short_messages.yaml"
MIN_ACCURACY = 34 / 36


def _rows() -> list[tuple[str, str]]:
    return [(str(lang), str(text)) for lang, text in yaml.safe_load(TABLE.read_text("utf-8"))]


def test_short_messages_accuracy() -> None:
    rows = _rows()
    results = [(lang, text, detect(text)) for lang, text in rows]
    correct = sum(1 for lang, _, got in results if got == lang)
    wrong = [(lang, text, got) for lang, text, got in results if got not in (lang, None)]
    assert len(rows) == 36 and {lang for lang, _ in rows} == {"en", "sv", "lv"}
    assert correct / len(rows) >= MIN_ACCURACY, results
    assert wrong == []


@pytest.mark.parametrize(("text", "expected"), [
    ("I want to talk to a human", "en"),  # lingua alone: English at 0.68, no guess
    ("mobile pay", "en"),
    ("talk to a person", None),  # every word is Swedish too
    ("asdfgh qwerty", None),
    ("OK tack", None),
])
def test_dictionary_second_opinion(text: str, expected: str | None) -> None:
    assert detect(text) == expected


async def test_a_customer_who_switches_language_is_answered_in_the_new_one(core: Core) -> None:
    (ch,) = channels(core, "test")
    person = Person(core, ch, "switch-1")
    assert "pasūtījum" in (await person.say("kur ir mans pasūtījums"))[0]
    replies = await person.say("I want to talk to a human")
    assert any("case #1" in reply for reply in replies), replies
    async with core.sessions() as s:
        assert await s.scalar(select(Customer.locale)) == "en"


@pytest.mark.parametrize(("text", "locale"), [
    ("var är mitt paket", "sv"),
    ("kur ir mans pasūtījums", "lv"),
    ("where is my order", "en"),
])
async def test_short_message_sets_the_customers_language(core: Core, text: str,
                                                          locale: str) -> None:
    """The customer's language is remembered from one short message."""
    (ch,) = channels(core, "test")
    await Person(core, ch, "short-1").say(text)
    async with core.sessions() as s:
        assert await s.scalar(select(Customer.locale)) == locale
