"""Greetings and thanks: a friendly answer instead of "Sorry, I don't have an answer to that".

A customer's first message is often only "hi" or "hej", and the last one "thanks". Sent to the
knowledge base, these got the fallback, counted towards the hand-over to a person and were
recorded as unanswered questions, so the report's knowledge gaps filled up with "hello". This
router answers a message that is *only* a greeting or a thank-you (punctuation, emoji and a
few fillers aside); "hi, where is my order?" still goes to the knowledge base.

A greeting word that belongs to one language only ("hejsan", "labdien") is evidence of that
language, as the detector would be on a longer text: the customer is answered in it unless
they chose a language with /lang.
"""

from __future__ import annotations

import re

from bot.context import Context
from bot.dispatcher import Router
from bot.handling import adopt_detected
from handlers.commands.router import start
from handlers.tickets import escalation

router = Router("smalltalk", priority=45)

#: Whole-message greetings, by the language they prove (None: said in several languages).
GREETINGS: dict[str, str | None] = {
    "hello": "en", "hi": "en", "hey": "en", "hiya": "en", "good morning": "en",
    "good afternoon": "en", "good evening": "en", "hi there": "en", "hello there": "en",
    "hej": "sv", "hejsan": "sv", "tjena": "sv", "tjenare": "sv", "hallå": "sv",
    "god morgon": "sv", "god dag": "sv", "god kväll": "sv", "hej hej": "sv",
    "sveiki": "lv", "labdien": "lv", "labrīt": "lv", "labvakar": "lv", "čau": "lv",
    "sveicināti": "lv", "hallo": None,
}
THANKS: dict[str, str | None] = {
    "thanks": "en", "thank you": "en", "thanks a lot": "en", "thank you very much": "en",
    "many thanks": "en", "thx": "en", "ty": "en", "cheers": "en",
    "tack": "sv", "tack så mycket": "sv", "tusen tack": "sv", "tackar": "sv",
    "paldies": "lv", "liels paldies": "lv", "paldies liels": "lv",
}
#: Openers that announce a question without asking it ("hello, I have a question"): answered
#: like a greeting (the welcome asks for the question), never a knowledge gap.
PREAMBLES: dict[str, str | None] = {
    "i have a question": "en", "i have a few questions": "en", "i need help": "en",
    "i need some help": "en", "can you help me": "en", "can i ask something": "en",
    "can i ask you something": "en", "quick question": "en",
    "jag har en fråga": "sv", "jag har några frågor": "sv", "jag behöver hjälp": "sv",
    "kan du hjälpa mig": "sv", "kan ni hjälpa mig": "sv",
    "man ir jautājums": "lv", "man ir daži jautājumi": "lv", "man vajag palīdzību": "lv",
    "vai varat palīdzēt": "lv", "vai vari palīdzēt": "lv",
}
FILLERS = re.compile(r"\b(?:ok|okay|so much|again|så mycket|jums)\b")
_NOISE = re.compile(r"[^\w\s]|_|\d")


def normalised(text: str) -> str:
    """'Hej!! 👋' -> 'hej'; 'Thanks so much :)' -> 'thanks'."""
    words = _NOISE.sub(" ", text.casefold())
    return " ".join(FILLERS.sub(" ", words).split())


def classify(text: str) -> tuple[str, str | None] | None:
    """('greeting' | 'thanks', the language it proves or None), or None for anything else."""
    if len(text) > 60:
        return None
    said = normalised(text)
    for kind, table in (("greeting", GREETINGS), ("thanks", THANKS)):
        if said in table:
            return kind, table[said]
    return _opener(said)


def _opener(said: str) -> tuple[str, str | None] | None:
    """A preamble alone, or a greeting followed by one: a greeting (in their language)."""
    for preamble, language in PREAMBLES.items():
        if said == preamble:
            return "greeting", language
        if said.endswith(" " + preamble):
            head = said[: -len(preamble) - 1]
            if head in GREETINGS:
                return "greeting", GREETINGS[head] or language
    return None


@router.handler
async def smalltalk(ctx: Context) -> bool:
    if ctx.inbound.kind not in ("text", "edited") or not ctx.text:
        return False
    found = classify(ctx.text)
    if found is None:
        return False
    kind, language = found
    if language is not None and adopt_detected(ctx.customer, language):
        ctx.locale = language
    if kind == "greeting":
        await start(ctx, "")
    else:
        ctx.reply(ctx.t("smalltalk_thanks"))
    escalation.reset_abstains(ctx)
    return True

