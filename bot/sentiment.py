"""Is a review or forum post negative? A small, readable lexicon for English, Swedish, Latvian.

Why a lexicon and not a model: the job is triage (does staff need to look at this soon?), the
texts are short, and the three shipped languages have no maintained sentiment library in common
(VADER is English only). A word list with negation handling is predictable, fast (microseconds),
testable and easy for operators to extend; misses cost little because every item is stored and
low ratings open a ticket regardless of wording.

Rules: words are lower-cased tokens; an entry ending in ``*`` matches any word starting with it
(inflections: ``dålig*`` = dålig, dåligt, dåliga). A negator up to three words before a
sentiment word flips it ("not good" counts as negative, "not bad" as mildly positive). A few
fixed phrases ("never arrived", "kom aldrig") count as negative on their own. The verdict is
``negative`` when the score is at most -1, ``positive`` at +1 or more, else ``neutral``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Sentiment = Literal["negative", "neutral", "positive"]

NEGATIVE = {
    "en": """bad worse worst terribl* awful horribl* poor broken rude slow late delay* scam*
        fraud* disappoint* useless waste* angry annoy* complain* complaint* damaged wrong
        missing faulty defective unacceptabl* avoid hate* hated ignored unhelpful lost
        overpriced cheat* nightmare refund* unprofessional incompetent frustrat* problem*""",
    "sv": """dålig* sämre sämst hemsk* usel* trasig* oförskämd* långsam* försen* bedrägeri*
        bedragar* besvik* värdelös* slöseri arg argt arga klagomål skadad* fel felaktig*
        saknas oacceptab*
        undvik* hatar ignorer* förlora* överpris* lurad* katastrof* problem* oprofessionell*
        inkompetent* frustrer* krångl*""",
    "lv": """slikt* sliktāk* briesmīg* šausmīg* salauzt* bojāt* rupj* lēn* kavē* nokavē*
        krāp* vilšan* vīlies vīlusies bezjēdzīg* dusmīg* sūdzīb* nepareiz* trūkst pazud*
        nepieņemam* izvairie* ienīstu dārg* neapmierināt* nestrādā* nepatīk
        neatbild* nepienāca nesaņēm* neiesak* problēm* nekompetent* negodīg*""",
}
POSITIVE = {
    "en": """good great excellent amazing love* loved fast quick* helpful friendly perfect*
        recommend* happy satisfied nice awesome fantastic wonderful smooth* best""",
    "sv": """bra utmärkt* fantastisk* älskar snabb* hjälpsam* vänlig* perfekt* rekommender*
        nöjd* trevlig* toppen smidig* bäst""",
    "lv": """labs laba labi labu labā labākais lielisk* izcil* ātr* izpalīdzīg* laipn* ideāl*
        iesak* apmierināt* patīk super brīnišķīg* vislabāk*""",
}
NEGATORS = {
    "en": {"not", "no", "never", "don't", "dont", "didn't", "didnt", "isn't", "isnt",
           "wasn't", "wasnt", "doesn't", "doesnt", "won't", "can't", "cannot", "hardly",
           "nothing", "without"},
    "sv": {"inte", "ej", "aldrig", "ingen", "inget", "inga", "knappast", "utan"},
    "lv": {"ne", "nav", "nebija", "nekad", "nemaz", "bez"},
}
PHRASES = re.compile(
    r"never\s+(arrived|came|received|delivered|again)|still\s+waiting|no\s+(answer|reply|response)"
    r"|money\s+back|kom\s+(aldrig|inte)|väntar\s+fortfarande|inget\s+svar|pengarna\s+tillbaka"
    r"|joprojām\s+gaidu|nav\s+(pienācis|pienākusi|atbildes)|naudu\s+atpakaļ",
    re.IGNORECASE,
)
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
NEGATION_WINDOW = 3


@dataclass(frozen=True, slots=True)
class _Lexicon:
    exact: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def of(cls, words: str) -> _Lexicon:
        items = words.split()
        return cls(
            frozenset(w for w in items if not w.endswith("*")),
            tuple(w[:-1] for w in items if w.endswith("*")),
        )

    def __contains__(self, token: str) -> bool:
        return token in self.exact or token.startswith(self.prefixes)


def _merged(table: dict[str, str]) -> _Lexicon:
    return _Lexicon.of(" ".join(table.values()))


_NEG = _merged(NEGATIVE)
_POS = _merged(POSITIVE)
_NEGATORS = frozenset().union(*NEGATORS.values())


def score(text: str) -> float:
    """Sum of word polarities (+1 / -1, flipped by a negator just before); phrases count -1.

    All three languages are checked at once: reviews mix languages and the words barely collide.
    """
    tokens = [t.lower().replace("’", "'") for t in WORD.findall(text)]
    total = -float(len(PHRASES.findall(text)))
    for i, token in enumerate(tokens):
        polarity = _polarity(token)
        if polarity == 0:
            continue
        window = tokens[max(0, i - NEGATION_WINDOW):i]
        if any(w in _NEGATORS for w in window):
            polarity = -1.0 if polarity > 0 else 0.5
        total += polarity
    return total


def _polarity(token: str) -> float:
    if token in _NEGATORS and token not in _NEG.exact:
        return 0.0
    if token in _NEG:
        return -1.0
    if token in _POS:
        return 1.0
    return 0.0


def classify(text: str, rating: int | None = None) -> Sentiment:
    """The verdict for a review: a rating of 1–2 is negative whatever the words; negative
    wording makes any item negative; a 4–5 rating or positive wording makes it positive."""
    if rating is not None and rating <= 2:
        return "negative"
    value = score(text)
    if value <= -1:
        return "negative"
    if value >= 1 or (rating is not None and rating >= 4):
        return "positive"
    return "neutral"
