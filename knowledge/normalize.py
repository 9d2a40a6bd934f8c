"""Text normalisation shared by the matcher, the evaluator and the KB linter.

Customers write in inflected languages (Swedish, Latvian), often without diacritics and with
typos. Two views of a text therefore go into matching:

* ``lemmas``: lower-cased word tokens reduced to their dictionary form with simplemma, so that
  "pasūtījumu" and "pasūtījums" or "beställningen" and "beställning" count as the same word;
* ``folded``: the lower-cased text with diacritics removed, for character n-grams, which absorb
  typos, compounds and whatever the lemmatiser does not know.

Only standard-library and simplemma calls here (through knowledge/lemmatizer.py): this runs
for every message, so it stays cheap and caches the per-token work.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from knowledge import lemmatizer

#: Languages simplemma is asked about; anything else is only lower-cased and folded.
LEMMA_LANGS = frozenset({"en", "sv", "lv"})

#: Longest text (characters) that is analysed; a pasted e-mail beyond this adds cost, not meaning.
MAX_CHARS = 1000

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)

def _words(text: str) -> frozenset[str]:
    """A word list written as one space-separated string, which keeps long lists readable."""
    return frozenset(text.split())


# Function words that carry no topic. Used to discount texts that consist of nothing else and by
# the linter; the classifier itself keeps them, since "how"/"why"/"not" distinguish intents.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "a an the i me my mine we our you your he she it its they them their is are was were be "
        "been being am do does did have has had to of in on at for with from by about as and or "
        "but if so that this these those there here can could would should will shall may might "
        "must please pls hi hello hey thanks thank just some any"
    ),
    "sv": _words(
        "jag mig min mitt mina vi oss vår vårt våra du dig din ditt dina han hon den det de dem "
        "deras är var vara varit har hade ha att och eller men om så som en ett i på till för med "
        "av från hos vid kan kunna skulle ska vill får hej tack snälla bara någon något några "
        "inte"
    ),
    "lv": _words(
        "es man mans mana mēs mūsu tu tev tavs tava viņš viņa tas tā tie tās ir bija būt būs "
        "esmu un vai bet ja ka kas lai uz no ar par pie pēc līdz kā var varētu gribu labdien "
        "sveiki paldies lūdzu lūgums"
    ),
}


def fold(text: str) -> str:
    """Lower-case ``text`` and strip diacritics ("Pasūtījums" -> "pasutijums")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (Unicode letters and digits), at most MAX_CHARS read."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold())


@lru_cache(maxsize=200_000)
def lemma(token: str, locale: str) -> str:
    """Dictionary form of one lower-cased ``token``; unknown languages return it unchanged."""
    lang = locale.split("-", 1)[0]
    if lang not in LEMMA_LANGS or token.isdigit():
        return token
    return lemmatizer.lemmatize(token, lang).casefold()


@lru_cache(maxsize=200_000)
def _folded_lemma(token: str, locale: str) -> str:
    return fold(lemma(token, locale))


def lemmas(text: str, locale: str) -> list[str]:
    """Lemmatised tokens of ``text`` in ``locale``, diacritics folded so "pasutijums" still fits."""
    return [_folded_lemma(tok, locale) for tok in tokens(text)]


def content_words(text: str, locale: str) -> list[str]:
    """Lemmas of ``text`` without stop words: what the text is about."""
    stop = STOP_WORDS.get(locale.split("-", 1)[0], frozenset())
    return [
        _folded_lemma(tok, locale)
        for tok in tokens(text)
        if tok not in stop and lemma(tok, locale) not in stop
    ]


def folded_text(text: str) -> str:
    """Tokens joined by single spaces with diacritics folded: the input for char n-grams."""
    return fold(" ".join(tokens(text)))
