"""Is a review or forum post negative? A small, readable lexicon for English, Swedish, Latvian,
with a sentence-embedding model as a second opinion (handlers/intake/review_model.py).

Why a lexicon first: the job is triage (does staff need to look at this soon?), the texts are
short, and the three shipped languages have no maintained sentiment library in common (VADER is
English only). A word list with negation handling is predictable, fast (microseconds), testable
and easy for operators to extend, and it is never wrong when it fires on the written sets. It
misses complaints without a complaint word (47-58 % found on reviews written after it was
frozen), so a review it does not flag, without a 4-5 rating, is asked of the model.

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

from handlers.intake import review_model

Sentiment = Literal["negative", "neutral", "positive"]

NEGATIVE = {
    "en": """bad worse worst terribl* awful horribl* poor broken rude slow late delay* scam*
        fraud* disappoint* useless waste* angry annoy* complain* complaint* damaged wrong
        missing faulty defective unacceptabl* avoid hate* hated ignored unhelpful lost
        overpriced cheat* nightmare unprofessional incompetent frustrat* problem* crash*
        torn joke ripoff rip-off unhappy dissatisfied soaked ruined stolen mess""",
    "sv": """dålig* sämre sämst* hemsk* usel* trasig* oförskämd* otrevlig* långsam* försen*
        sen sent bedrägeri* bedragar* besvik* värdelös* slöseri arg argt arga klagomål skadad*
        skadat fel felaktig* saknas saknades oacceptab* undvik* hatar ignorer* förlora*
        överpris* lurad* katastrof* problem* oprofessionell* inkompetent* frustrer* krångl*
        kraschar krasch* skämt missnöjd* ohjälpsam* blött förstörd* stulen""",
    "lv": """slikt* sliktāk* sliktāk* briesmīg* šausmīg* salauzt* saplēst* saplīs* bojāt*
        rupj* lēn* kavē* kavēj* nokavē* krāp* vilšan* vīlies vīlusies bezjēdzīg* dusmīg*
        sūdzīb* nepareiz* trūkst trūka pazud* nepieņemam* izvairie* ienīstu dārg*
        neapmierināt* nestrādā* nedarbojās nedarbojas nepatīk neatbild* nepienāca nesaņēm*
        neiesak* problēm* nekompetent* negodīg* nepalīdz* avarē joks samirk* izpostīt*""",
}
POSITIVE = {
    "en": """good great excellent amazing love* loved fast quick* helpful friendly perfect*
        recommend* happy satisfied nice awesome fantastic wonderful smooth* best easy lovely
        solved fixed sorted""",
    "sv": """bra utmärkt* fantastisk* älskar snabb* hjälpsam* vänlig* perfekt* rekommender*
        nöjd* trevlig* toppen smidig* bäst underbar* enkel enkelt löste fixade prisvärd*
        jättebra""",
    "lv": """labs laba labi labu labā labākais lielisk* izcil* ātr* izpalīdzīg* laipn* ideāl*
        iesak* apmierināt* patīk super brīnišķīg* vislabāk* vienkārš* atrisināja izlaboja
        glīti gludi""",
}
#: Words that make the next sentiment word stronger ("very rude", "ļoti slikts").
INTENSIFIERS = frozenset((
    "very", "really", "so", "extremely", "totally", "absolutely", "completely", "utterly",
    "incredibly", "mycket", "väldigt", "jätte", "otroligt", "riktigt", "helt", "extremt",
    "alldeles", "ļoti", "galīgi", "pilnīgi", "ārkārtīgi", "baigi",
))
NEGATORS = {
    "en": {"not", "no", "never", "don't", "dont", "didn't", "didnt", "isn't", "isnt",
           "wasn't", "wasnt", "doesn't", "doesnt", "won't", "can't", "cannot", "hardly",
           "nothing", "without"},
    "sv": {"inte", "ej", "aldrig", "ingen", "inget", "inga", "knappast", "utan"},
    "lv": {"ne", "nav", "nebija", "nekad", "nemaz", "bez", "nekādu", "nekāda", "nekādas",
           "neesmu", "nevaru", "nekas"},
}
#: Complaints that are a pattern, not a word: "never arrived", "still waiting", "nobody
#: answers". Matched first and taken out of the clause, so their "never"/"no"/"nav" does not
#: also flip the next word ("Paketet kom aldrig, usel service" stays negative twice).
PHRASES = re.compile(
    r"never\s+(arrived|came|received|delivered|again)|still\s+(waiting|no|nothing|not)"
    r"|no\s+(answer|reply|response|refund)|money\s+back|(been|am|keep)\s+waiting"
    r"|(nobody|no\s+one|no-one)\s+\w+|do\s+not\s+(buy|order)|don'?t\s+(buy|order)"
    r"|too\s+expensive|charged\s+twice|cancell?ed\s+my"
    r"|kom\s+(aldrig|inte)|väntar\s+fortfarande|fortfarande\s+(ingen|inget|ingenting|inte)"
    r"|har\s+väntat|inget\s+svar|ingen\s+(svarar|svarade|hjälper|har)|pengarna\s+tillbaka"
    r"|aldrig\s+mer|köp\s+inte|för\s+dyrt|debiterad\s+två|avbröt\s+min"
    r"|joprojām\s+(gaidu|nav|nekā|neko)|gaidu|nav\s+(pienācis|pienākusi|atbildes)"
    r"|naudu\s+atpakaļ|neviens\s+\w+|nekad\s+vairs|nepērciet|pārāk\s+dārg\w*"
    r"|divreiz|atcēla\s+manu",
    re.IGNORECASE,
)
#: Negation does not reach across these: "Paketet kom aldrig, usel service".
CLAUSES = re.compile(r"[.!?;:,\n]+|\s(?:but|men|bet|though|however|dock|tomēr)\s",
                     re.IGNORECASE)
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)?", re.UNICODE)
NEGATION_WINDOW = 3
INTENSITY = 1.5


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
    """Sum of word polarities (+1 / -1; x1.5 after an intensifier; flipped by a negator up to
    three words before it in the same clause); each complaint pattern counts -1.

    All three languages are checked at once: reviews mix languages and the words barely collide.
    """
    return sum(_clause(part) for part in CLAUSES.split(text) if part and part.strip())


def _clause(text: str) -> float:
    total = -float(len(PHRASES.findall(text)))
    tokens = [t.lower().replace("’", "'") for t in WORD.findall(PHRASES.sub(" | ", text))]
    for i, token in enumerate(tokens):
        polarity = _polarity(token)
        if polarity == 0:
            continue
        if i and tokens[i - 1] in INTENSIFIERS:
            polarity *= INTENSITY
        window = tokens[max(0, i - NEGATION_WINDOW):i]
        if any(w in _NEGATORS for w in window):
            # "not good" is bad; "not bad" is at most mildly good
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


def classify(text: str, rating: int | None = None, *, model: bool = True) -> Sentiment:
    """The verdict for a review: a rating of 1–2 is negative whatever the words; negative
    wording makes any item negative; a 4–5 rating makes it positive; otherwise the review
    model (handlers/intake/review_model.py) may still call it negative; positive wording makes it
    positive. ``model=False``: the lexicon alone (microseconds; the model takes ~10-20 ms, so
    call this in a worker thread)."""
    if rating is not None and rating <= 2:
        return "negative"
    value = score(text)
    if value <= -1:
        return "negative"
    if rating is not None and rating >= 4:
        return "positive"
    if model and review_model.says_negative(text):
        return "negative"
    return "positive" if value >= 1 else "neutral"


def measure(labelled: list[tuple[str, bool]], *, model: bool = True) -> tuple[float, float]:
    """(recall, precision) of "negative" over (text, is_negative) pairs: how tests and
    bench/sentiment.py judge the detection on the written review sets."""
    hits = [(classify(text, model=model) == "negative", truth) for text, truth in labelled]
    found = sum(p and t for p, t in hits)
    predicted, actual = sum(p for p, _ in hits), sum(t for _, t in hits)
    return (found / actual if actual else 0.0, found / predicted if predicted else 0.0)
