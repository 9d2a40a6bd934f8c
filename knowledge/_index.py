"""The lexical index of one locale: TF-IDF features, entry centroids and nearest neighbours.

Why this design (measured on BANKING77/HWU64 10-shot, see docs/matching.md):

* features are word lemmas (1-2 grams), content-word lemmas, and character n-grams (2-5, inside
  word boundaries) of the diacritic-folded text. Lemmas join inflected forms; char n-grams absorb
  typos, compounds and unknown words;
* an entry is scored mainly by cosine similarity to its *centroid* (the sum of its wordings'
  vectors, square-root damped so one long wording does not dominate). The centroid was as accurate
  as a trained linear classifier (LinearSVC) here, builds in closed form in milliseconds and stays a
  sparse matrix for 100,000 wordings — KB edits take effect on the next rebuild without training;
* the best single wording (nearest neighbour) is blended in with a small weight: it rewards a
  query that repeats one phrasing nearly verbatim.

Everything is sparse linear algebra, so a query costs one sparse product per matrix.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from rapidfuzz import fuzz, process
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as l2_normalize

from knowledge import normalize as nz

#: Weight of the best single wording next to the centroid similarity.
NN_WEIGHT = 0.1
#: Power applied to centroid weights: < 1 flattens them so no single wording dominates an entry.
CENTROID_POWER = 0.5
#: Wordings with at least this weight take part in the nearest-neighbour score.
NN_MIN_WEIGHT = 1.0
#: Weight of the answer text inside an entry's centroid; answers say more than customers ask.
ANSWER_WEIGHT = 0.5
#: Query words at least this long that the KB never uses are corrected to a close KB word.
MIN_TYPO_LEN = 4
#: rapidfuzz ratio (0-100) a KB word needs to replace an unknown query word.
TYPO_CUTOFF = 80.0

Scores = npt.NDArray[np.float64]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Wording:
    """One text of one entry with its weight in the entry's centroid."""

    entry: int
    text: str
    weight: float


def split_answer(answer: str) -> list[str]:
    """The sentences of an answer: a question usually echoes one sentence, not the whole text."""
    parts = [part.strip() for part in _SENTENCE_END.split(answer)]
    return [part for part in parts if part] or [answer]


def _word_features(locale: str) -> Callable[[str], list[str]]:
    """Lemma unigrams and bigrams: inflected forms of a word count as one feature."""

    def analyse(text: str) -> list[str]:
        lem = nz.lemmas(text, locale)
        return lem + [f"{a} {b}" for a, b in pairwise(lem)]

    return analyse


def _content_features(locale: str) -> Callable[[str], list[str]]:
    """Content-word lemmas and their bigrams, which up-weights topic words over function words."""

    def analyse(text: str) -> list[str]:
        words = nz.content_words(text, locale)
        return words + [f"{a} {b}" for a, b in pairwise(words)]

    return analyse


class _QueryEncoder:
    """The TF-IDF weights of one fitted vectorizer, applied to a single query without overhead."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self._analyse = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = vectorizer.idf_.tolist()

    def encode(self, text: str) -> dict[int, float]:
        """Column -> sublinear tf * idf for the features of ``text`` the KB knows."""
        counts = Counter(self._analyse(text))
        out = {}
        for feature, count in counts.items():
            col = self._vocabulary.get(feature)
            if col is not None:
                out[col] = (1.0 + math.log(count)) * self._idf[col]
        return out


class LocaleIndex:
    """Scores every entry of one locale against a query; built once per KB version."""

    def __init__(self, entry_ids: Sequence[str], wordings: Sequence[Wording], locale: str) -> None:
        self.entry_ids = tuple(entry_ids)
        self.locale = locale
        self._vectorizers = [
            TfidfVectorizer(analyzer=_word_features(locale), sublinear_tf=True),
            TfidfVectorizer(analyzer=_content_features(locale), sublinear_tf=True),
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                preprocessor=nz.folded_text, dtype=np.float32,
            ),
        ]
        texts = [w.text for w in wordings]
        blocks = [vec.fit_transform(texts) for vec in self._vectorizers]
        matrix = l2_normalize(sp.hstack(blocks, format="csr", dtype=np.float32))
        self._encoders = [_QueryEncoder(vec) for vec in self._vectorizers]
        self._offsets = np.cumsum([0] + [b.shape[1] for b in blocks[:-1]]).tolist()
        self._width = matrix.shape[1]
        self._vocabulary = sorted(
            {tok for text in texts for tok in nz.tokens(text) if len(tok) >= MIN_TYPO_LEN}
        )
        self._known = frozenset(self._vocabulary)
        order = np.asarray([w.entry for w in wordings])
        weights = np.asarray([w.weight for w in wordings], dtype=np.float32)
        owner = sp.csr_matrix(
            (weights, (order, np.arange(len(wordings)))), shape=(len(self.entry_ids), len(texts))
        )
        centroids = owner @ matrix
        centroids.data = centroids.data**CENTROID_POWER
        self._centroids_t = l2_normalize(centroids).T.tocsr()
        # Nearest neighbours only over customer wordings (weight 1), grouped per entry.
        keep = np.flatnonzero(weights >= NN_MIN_WEIGHT)
        keep = keep[np.argsort(order[keep], kind="stable")]
        self._nn_t = matrix[keep].T.tocsr()
        self._nn_owner = order[keep]
        self._nn_starts = np.flatnonzero(np.r_[True, np.diff(self._nn_owner) != 0])
        self._entry_words = _entry_words(len(self.entry_ids), wordings, locale)
        self._all_words = frozenset().union(*self._entry_words)

    def uncovered(self, text: str, entry: int) -> float:
        """Share of the query's content words that entry ``entry`` never uses (0 = all covered).

        "Do you sell spaceships to Mars?" resembles "Do you sell gift cards?" by one word; the
        two words the entry lacks are what the customer is asking about, so the match should not
        be trusted however few other entries compete. ``text`` is the typo-corrected query.
        """
        words = set(nz.content_words(text, self.locale))
        if not words:
            return 0.0
        return len(words - self._entry_words[entry]) / len(words)

    def unknown(self, text: str) -> float:
        """Share of the query's content words that no entry of this locale uses."""
        words = set(nz.content_words(text, self.locale))
        if not words:
            return 0.0
        return len(words - self._all_words) / len(words)

    def vectorize(self, text: str) -> sp.csr_matrix:
        """The query's normalised feature vector, after correcting unknown words (typos).

        Done by hand from the fitted vocabularies and IDF weights: scikit-learn's ``transform``
        spends ~1 ms per call validating input, more than the whole match should take.
        """
        return self.vectorize_fixed(self.correct_typos(text))

    def vectorize_fixed(self, fixed: str) -> sp.csr_matrix:
        """:meth:`vectorize` for a text that :meth:`correct_typos` already corrected."""
        columns: list[int] = []
        values: list[float] = []
        for encoder, offset in zip(self._encoders, self._offsets, strict=True):
            block = encoder.encode(fixed)
            norm = math.sqrt(sum(v * v for v in block.values())) or 1.0
            columns += [offset + col for col in block]
            values += [v / norm for v in block.values()]
        total = math.sqrt(sum(v * v for v in values)) or 1.0
        data = np.asarray(values, dtype=np.float32) / np.float32(total)
        indptr = np.asarray([0, len(columns)], dtype=np.int32)
        return sp.csr_matrix(
            (data, np.asarray(columns, dtype=np.int32), indptr), shape=(1, self._width)
        )

    def scores(self, query: sp.csr_matrix) -> Scores:
        """Similarity to each entry: centroid cosine plus a share of its best wording."""
        total = np.asarray((query @ self._centroids_t).todense(), dtype=np.float64).ravel()
        if self._nn_owner.size:
            sims = np.asarray((query @ self._nn_t).todense(), dtype=np.float64).ravel()
            best = np.maximum.reduceat(sims, self._nn_starts)
            total[self._nn_owner[self._nn_starts]] += NN_WEIGHT * best
        return total

    def correct_typos(self, text: str) -> str:
        """Replace long query words the KB never uses by the closest KB word ("delivry")."""
        words = nz.tokens(text)
        fixed = []
        for word in words:
            if len(word) >= MIN_TYPO_LEN and word not in self._known and not word.isdigit():
                hit = process.extractOne(
                    word, self._vocabulary, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF
                )
                if hit is not None:
                    word = hit[0]
            fixed.append(word)
        return " ".join(fixed)


def _entry_words(
    n_entries: int, wordings: Sequence[Wording], locale: str
) -> list[frozenset[str]]:
    """Content-word lemmas of each entry's wordings and answer (for ``uncovered``)."""
    words: list[set[str]] = [set() for _ in range(n_entries)]
    for wording in wordings:
        words[wording.entry].update(nz.content_words(wording.text, locale))
    return [frozenset(w) for w in words]
