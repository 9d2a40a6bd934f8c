"""The lexical index of one locale: TF-IDF features, entry centroids and nearest neighbours.

Why this design (measured on BANKING77/HWU64 10-shot, see docs/matching.md):

* features are word lemmas (1-2 grams), content-word lemmas, and character n-grams (2-5, inside
  word boundaries) of the diacritic-folded text. Lemmas join inflected forms; char n-grams absorb
  typos, compounds and unknown words;
* an entry is scored mainly by cosine similarity to its *centroid* (the sum of its wordings'
  vectors, damped by a power of 0.7 so one long wording does not dominate). The centroid was as
  accurate as trained linear classifiers here (logistic regression ~+0.5 point when fused, for
  seconds of training), builds in closed form and stays a sparse matrix for 100,000 wordings —
  KB edits take effect on the next rebuild without training;
* the best single wording (nearest neighbour) is blended in with a small weight: it rewards a
  query that repeats one phrasing nearly verbatim.

Everything is sparse linear algebra, so a query costs one sparse product per matrix. Building
re-uses the analysis (features, term frequencies) of wordings it has seen before, so a rebuild
after an edit analyses only the changed wordings.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from rapidfuzz import fuzz, process

from knowledge import normalize as nz
from knowledge.entries import KBEntry

#: Weight of the best single wording next to the centroid similarity.
NN_WEIGHT = 0.1
#: Power applied to centroid weights: < 1 flattens them so no single wording dominates an entry.
#: 0.7 beat the earlier 0.5 on BANKING77 dev (75.0 % vs 74.1 %; 0.3: 72.7 %, 1.0: 73.7 %).
CENTROID_POWER = 0.7
#: Wordings with at least this weight take part in the nearest-neighbour score.
NN_MIN_WEIGHT = 1.0
#: Weight of the answer text inside an entry's centroid; answers say more than customers ask.
ANSWER_WEIGHT = 0.5
#: Query words at least this long that the KB never uses are corrected to a close KB word.
MIN_TYPO_LEN = 4
#: rapidfuzz ratio (0-100) a KB word needs to replace an unknown query word.
TYPO_CUTOFF = 80.0
#: Weight of each feature block (word lemmas, content lemmas, char n-grams) per locale; the
#: similarity is the blocks' cosines averaged with the squared weights. Swedish writes compounds
#: as one word ("smittspridning", "vårdnadshavare") that lemmas cannot split, so its char
#: n-grams count for more: on SweFAQ, chosen on half of the queries (even lines, 49.1 -> 60.0 %),
#: the other half went 52.7 -> 56.4 %. Equal weights stayed best on BANKING77 dev (English).
BLOCK_WEIGHTS: dict[str, tuple[float, float, float]] = {"sv": (1.0, 1.0, 2.0)}
EQUAL_BLOCKS = (1.0, 1.0, 1.0)

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


def describing_texts(entries: Sequence[KBEntry]) -> tuple[list[str], list[int]]:
    """(texts, entry number of each) for embedding matchers: customer wordings describe an
    entry; an answer-only entry is described by its answer's sentences."""
    texts: list[str] = []
    owner: list[int] = []
    for number, entry in enumerate(entries):
        own = [text for text in entry.texts() if text.strip()] or split_answer(entry.answer)
        texts += own
        owner += [number] * len(own)
    return texts, owner


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


#: Most (feature kind, locale, text) analyses kept between builds. A rebuild after an edit then
#: analyses only the changed wordings: 3 analyses per wording, so this covers ~13,000 wordings at
#: roughly 1-2 KB each; bigger KBs are analysed in full on every build, without the cache.
ANALYSIS_CACHE = 40_000

_KINDS = ("word", "content", "char")
#: Character n-gram lengths, inside word boundaries.
CHAR_NGRAMS = (2, 5)
_SPACES = re.compile(r"\s\s+")
# Feature string -> process-wide id, per kind. Ids only grow; the lock keeps two threads that
# build at once from handing out one id twice.
_FEATURE_IDS: dict[str, dict[str, int]] = {kind: {} for kind in _KINDS}
_IDS_LOCK = threading.Lock()

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float32]


def _analyse(kind: str, locale: str, text: str) -> list[str]:
    """The features of one kind for ``text``: lemma n-grams, content lemmas or char n-grams."""
    if kind == "word":
        return _word_features(locale)(text)
    if kind == "content":
        return _content_features(locale)(text)
    return char_wb_ngrams(nz.folded_text(text))


def char_wb_ngrams(text: str, sizes: tuple[int, int] = CHAR_NGRAMS) -> list[str]:
    """scikit-learn's ``char_wb`` analyser, written out (tests compare the two).

    Importing scikit-learn for this one function cost ~1 s of every start-up (``crmbot chat``,
    ``kb lint``); the analyser is 15 lines. Each word is padded with a space on both sides; a
    word shorter than an n-gram length yields itself once and stops the longer lengths.
    """
    low, high = sizes
    grams: list[str] = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        for size in range(low, high + 1):
            last = max(len(padded) - size, 0)
            grams += [padded[start:start + size] for start in range(last + 1)]
            if last == 0:
                break
    return grams


@lru_cache(maxsize=ANALYSIS_CACHE)
def _counted(kind: str, locale: str, text: str) -> tuple[IntArray, FloatArray]:
    """Feature ids and sublinear term frequencies (1 + log count) of one KB text, cached."""
    counts = Counter(_analyse(kind, locale, text))
    table = _FEATURE_IDS[kind]
    with _IDS_LOCK:
        ids = [table.setdefault(feature, len(table)) for feature in counts]
    tf = [1.0 + math.log(count) for count in counts.values()]
    return np.asarray(ids, dtype=np.int32), np.asarray(tf, dtype=np.float32)


class _FeatureSpace:
    """TF-IDF (smoothed idf, sublinear tf, rows L2-normalised) of one feature kind over a KB.

    Built by hand from cached per-text analyses rather than by scikit-learn's vectorizer, whose
    Python-level counting re-analysed every wording on each rebuild (~2 s for 10,000 wordings):
    after an edit only the changed wordings are analysed, the rest is numpy. Queries are encoded
    with the same analysers without scikit-learn's per-call input validation (~1 ms).
    """

    def __init__(self, kind: str, locale: str, texts: Sequence[str]) -> None:
        self._kind, self._locale = kind, locale
        # A KB too big for the cache would only churn it: analyse such a KB without caching.
        fits = len(texts) * len(_KINDS) <= ANALYSIS_CACHE
        count = _counted if fits else _counted.__wrapped__
        rows = [count(kind, locale, text) for text in texts]
        ids = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
        tf = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
        vocabulary, columns = np.unique(ids, return_inverse=True)
        df = np.bincount(columns, minlength=vocabulary.size)
        self._idf = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum([r[0].size for r in rows])])
        matrix = sp.csr_matrix(
            (tf * self._idf[columns], columns, indptr), shape=(len(texts), vocabulary.size)
        )
        self.matrix = _l2_rows(matrix)
        self.width = int(vocabulary.size)
        # Process-wide feature id -> this KB's column (-1: not in this KB).
        self._column = np.full(int(vocabulary.max()) + 1 if vocabulary.size else 0, -1, np.int32)
        self._column[vocabulary] = np.arange(vocabulary.size)

    def pop_matrix(self) -> sp.csr_matrix:
        """The wordings' rows, handed over once to the locale index, which keeps them only in
        its own forms (centroids, nearest wordings). Kept here as well, they were a second full
        copy of the KB's features in memory and in the stored matcher (docs/benchmarks.md: the
        matcher of 100,000 wordings, before and after)."""
        matrix = self.matrix
        del self.matrix
        return matrix

    def __getstate__(self) -> dict[str, object]:
        """Pickled with feature strings: process-wide ids differ from process to process."""
        state = {key: value for key, value in self.__dict__.items() if key != "_column"}
        table = _FEATURE_IDS[self._kind]
        named = np.flatnonzero(self._column >= 0)
        by_id = {feature_id: feature for feature, feature_id in table.items()}
        features = [""] * self.width
        for feature_id in named.tolist():
            features[int(self._column[feature_id])] = by_id[feature_id]
        state["_features"] = features
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        """Re-number the stored feature strings with this process's ids (knowledge/store.py)."""
        features = state.pop("_features")
        assert isinstance(features, list)
        self.__dict__.update(state)
        table = _FEATURE_IDS[self._kind]
        with _IDS_LOCK:
            ids = np.asarray([table.setdefault(f, len(table)) for f in features], np.int64)
        self._column = np.full(int(ids.max()) + 1 if ids.size else 0, -1, np.int32)
        self._column[ids] = np.arange(ids.size, dtype=np.int32)

    def encode(self, text: str) -> dict[int, float]:
        """Column -> sublinear tf * idf for the features of ``text`` the KB knows."""
        counts = Counter(_analyse(self._kind, self._locale, text))
        table, size = _FEATURE_IDS[self._kind], self._column.size
        fids = np.fromiter((table.get(f, size) for f in counts), np.int64, len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))
        known = fids < size
        columns = self._column[fids[known]]
        inside = columns >= 0
        columns, tf = columns[inside], tf[known][inside]
        return dict(zip(columns.tolist(), (tf * self._idf[columns]).tolist(), strict=True))


def _l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with every non-zero row scaled to unit length (zero rows stay zero)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    scaled: sp.csr_matrix = sp.diags((1.0 / norms).astype(np.float32)) @ matrix
    return scaled.tocsr()


class LocaleIndex:
    """Scores every entry of one locale against a query; built once per KB version."""

    def __init__(self, entry_ids: Sequence[str], wordings: Sequence[Wording], locale: str) -> None:
        self.entry_ids = tuple(entry_ids)
        self.locale = locale
        texts = [w.text for w in wordings]
        self._spaces = [_FeatureSpace(kind, locale, texts) for kind in _KINDS]
        self._block_weights = BLOCK_WEIGHTS.get(locale, EQUAL_BLOCKS)
        blocks = [s.pop_matrix() * w
                  for s, w in zip(self._spaces, self._block_weights, strict=True)]
        matrix = _l2_rows(sp.hstack(blocks, format="csr", dtype=np.float32))
        self._offsets = np.cumsum([0] + [space.width for space in self._spaces[:-1]]).tolist()
        self._width = matrix.shape[1]
        self._vocabulary = sorted({tok for text in texts for tok in _long_tokens(text)})
        self._known = frozenset(self._vocabulary)
        order = np.asarray([w.entry for w in wordings])
        weights = np.asarray([w.weight for w in wordings], dtype=np.float32)
        owner = sp.csr_matrix(
            (weights, (order, np.arange(len(wordings)))), shape=(len(self.entry_ids), len(texts))
        )
        centroids = owner @ matrix
        centroids.data = centroids.data**CENTROID_POWER
        self._centroids_t = _l2_rows(centroids).T.tocsr()
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
        layout = zip(self._spaces, self._offsets, self._block_weights, strict=True)
        for space, offset, weight in layout:
            block = space.encode(fixed)
            norm = math.sqrt(sum(v * v for v in block.values())) or 1.0
            columns += [offset + col for col in block]
            values += [weight * v / norm for v in block.values()]
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
        words[wording.entry].update(_content_set(wording.text, locale))
    return [frozenset(w) for w in words]


@lru_cache(maxsize=ANALYSIS_CACHE)
def _long_tokens(text: str) -> frozenset[str]:
    """Tokens of a KB text long enough to serve as typo corrections (cached across rebuilds)."""
    return frozenset(tok for tok in nz.tokens(text) if len(tok) >= MIN_TYPO_LEN)


@lru_cache(maxsize=ANALYSIS_CACHE)
def _content_set(text: str, locale: str) -> frozenset[str]:
    """Content-word lemmas of a KB text (cached across rebuilds)."""
    return frozenset(nz.content_words(text, locale))
