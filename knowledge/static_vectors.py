"""Static sentence vectors without a deep-learning runtime: word pieces looked up, then averaged.

Lexical features cannot tell that "locate my card" and "card arrival" are about the same thing.
A sentence encoder can, but needs torch. This module keeps part of that knowledge at numpy cost:
``knowledge/data/static_minilm.npz`` holds one vector per word piece of all-MiniLM-L6-v2's
vocabulary, distilled model2vec-style by ``bench/distill_static.py`` (each piece encoded alone by
the model, PCA to 256 dims, Zipf/SIF down-weighting of frequent pieces, float16). A text's vector
is the mean of its pieces' vectors, L2-normalised: no attention, no context, ~10 µs per text.

The tokeniser is BERT's (uncased): NFD accent stripping, lower-casing, splitting on whitespace
and punctuation, then greedy longest-match word pieces ("##" continuations). Words the vocabulary
cannot spell are skipped (BERT would emit [UNK], which carries no meaning here).

Per locale, :class:`VectorIndex` scores the entries three ways, all cosines of unit vectors:

* the entry's centroid (mean of its wordings' vectors);
* its nearest wording;
* the centroid after *whitening* with the KB's own within-entry scatter (shrunk towards the
  identity): directions in which wordings of one entry vary a lot (style, length, filler words)
  count less, directions that separate entries count more. This is linear discriminant analysis
  in closed form (a 256 x 256 eigen-decomposition per build, no training loop), and was the
  strongest of the three on BANKING77 dev (74.7 % alone, against 68.8 % for the plain centroid
  and 75.6 % for a logistic regression that took seconds to train).

The vectors are English; other locales keep the lexical matcher (see docs/matching.md).
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

#: The distilled vectors shipped with the package (see bench/distill_static.py).
DATA_FILE = Path(__file__).with_name("data") / "static_minilm.npz"
#: Longest word BERT's tokeniser splits into pieces; longer ones are skipped.
MAX_WORD_CHARS = 100
#: Texts longer than this are cut before embedding (same limit as the lexical analysis).
MAX_CHARS = 1000
#: Shrinkage of the within-entry scatter towards a multiple of the identity before whitening:
#: a KB has few wordings per entry, so the raw scatter is noisy (BANKING77 dev: 0.1 ~ 0.3).
SHRINK = 0.1
#: Locales whose entries get static-vector scores; the vectors are English (SweFAQ: see
#: docs/matching.md), so other locales stay lexical.
VECTOR_LOCALES = frozenset({"en"})
#: Weights of the three cosines added to the lexical score, chosen on BANKING77 dev (train split
#: minus KB phrasings; lexical alone 75.0 %, fused 79.1 %): plain centroid, nearest wording,
#: whitened centroid.
CENTROID_WEIGHT = 0.2
NEAREST_WEIGHT = 0.4
WHITENED_WEIGHT = 1.0
#: Most KB texts whose vectors are kept between builds (~1 KB each), so an edit only embeds the
#: texts it changed; matches the lexical analysis cache (~13,000 wordings).
EMBED_CACHE = 13_000

Vector = npt.NDArray[np.float32]


class StaticVectors:
    """Word-piece vocabulary and vectors; :meth:`embed` turns a text into a unit vector."""

    def __init__(self, pieces: list[str], vectors: npt.NDArray[np.floating]) -> None:
        if len(pieces) != len(vectors):
            raise ValueError(f"{len(pieces)} pieces but {len(vectors)} vectors")
        self._rows = {piece: row for row, piece in enumerate(pieces)}
        # Kept as float16 (15 MB for 30,000 pieces); a text's mean is computed in float32.
        self._vectors = np.asarray(vectors, dtype=np.float16)
        self.dims = int(self._vectors.shape[1])
        self._pieces = lru_cache(maxsize=100_000)(self._word_rows)
        self.embed_cached = lru_cache(maxsize=EMBED_CACHE)(self.embed)

    @classmethod
    def load(cls, path: Path = DATA_FILE) -> StaticVectors:
        """Read a vectors file written by bench/distill_static.py."""
        with np.load(path, allow_pickle=False) as data:
            pieces = bytes(data["vocab"]).decode("utf-8").split("\n")
            return cls(pieces, data["vectors"])

    def rows(self, text: str) -> list[int]:
        """Vocabulary rows of the word pieces of ``text`` (unknown words left out)."""
        out: list[int] = []
        for word in basic_tokens(text[:MAX_CHARS]):
            out += self._pieces(word)
        return out

    def embed(self, text: str) -> Vector:
        """Mean of the text's piece vectors, L2-normalised; zeros if no piece is known."""
        rows = self.rows(text)
        if not rows:
            return np.zeros(self.dims, np.float32)
        mean: Vector = self._vectors[rows].mean(axis=0, dtype=np.float32)
        norm = float(np.linalg.norm(mean))
        return mean / np.float32(norm) if norm > 0 else mean

    def embed_many(self, texts: Sequence[str], cache: bool = False) -> npt.NDArray[np.float32]:
        """:meth:`embed` for each text, one row per text (``cache``: for KB texts)."""
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        embed = self.embed_cached if cache else self.embed
        out = np.empty((len(texts), self.dims), np.float32)
        for row, text in enumerate(texts):
            out[row] = embed(text)
        return out

    def _word_rows(self, word: str) -> tuple[int, ...]:
        """Greedy longest-match word pieces of one basic token; () if it cannot be spelled."""
        if len(word) > MAX_WORD_CHARS:
            return ()
        rows: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                row = self._rows.get(piece)
                if row is not None:
                    rows.append(row)
                    break
                end -= 1
            else:
                return ()
            start = end
        return tuple(rows)


def basic_tokens(text: str) -> list[str]:
    """BERT's uncased basic tokenisation: lower-case, strip accents, split off punctuation."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    tokens: list[str] = []
    current: list[str] = []
    for ch in decomposed:
        cat = unicodedata.category(ch)
        if cat == "Mn":
            continue
        if ch.isspace() or cat in ("Cc", "Cf") or ch == "\ufffd":
            _flush(current, tokens)
        elif _is_punctuation(ch, cat) or _is_cjk(ord(ch)):
            _flush(current, tokens)
            tokens.append(ch)
        else:
            current.append(ch)
    _flush(current, tokens)
    return tokens


def _flush(current: list[str], tokens: list[str]) -> None:
    if current:
        tokens.append("".join(current))
        current.clear()


def _is_punctuation(ch: str, cat: str) -> bool:
    """BERT treats all non-alphanumeric ASCII (e.g. "$", "^") and Unicode P* as punctuation."""
    code = ord(ch)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return cat.startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F
    )


class VectorIndex:
    """Static-vector scores of every entry of one locale; built once per KB version.

    ``texts``/``owner``: the wordings that describe each entry (customer wordings, or the answer
    sentences of an entry that has none) and the entry number of each.
    """

    def __init__(
        self, vectors: StaticVectors, n_entries: int, texts: Sequence[str], owner: Sequence[int]
    ) -> None:
        self._vectors = vectors
        order = np.argsort(np.asarray(owner, dtype=np.int64), kind="stable")
        owners = np.asarray(owner, dtype=np.int64)[order]
        wordings = vectors.embed_many([texts[i] for i in order], cache=True)
        counts = np.bincount(owners, minlength=n_entries).astype(np.float32)
        self._present = np.flatnonzero(counts > 0)
        self._starts = np.flatnonzero(np.r_[True, np.diff(owners) != 0]) if owners.size else owners
        means = np.zeros((n_entries, vectors.dims), np.float32)
        if owners.size:
            means[self._present] = np.add.reduceat(wordings, self._starts, axis=0)
        means /= np.maximum(counts, 1.0)[:, None]
        self._whiten = _whitening(_within_scatter(wordings, means, owners))
        self._centroids_t = _unit_rows(means).T.copy()
        self._white_t = _unit_rows(means @ self._whiten).T.copy()
        # Rows grouped by entry: one matrix-vector product, then a maximum per entry.
        self._wordings = wordings
        self.size = n_entries

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the process-wide vectors table (14 MB), which is re-attached."""
        return {key: value for key, value in self.__dict__.items() if key != "_vectors"}

    def __setstate__(self, state: dict[str, object]) -> None:
        vectors = shared()
        if vectors is None:
            raise ValueError(f"static vectors file {DATA_FILE} is missing")
        self.__dict__.update(state)
        self._vectors = vectors

    def fused(self, text: str) -> Vector:
        """The weighted sum of :meth:`scores` that is added to the lexical score."""
        centroid, nearest, whitened = self.scores(text)
        out: Vector = (
            CENTROID_WEIGHT * centroid + NEAREST_WEIGHT * nearest + WHITENED_WEIGHT * whitened
        )
        return out

    def scores(self, text: str) -> tuple[Vector, Vector, Vector]:
        """(centroid cosine, nearest-wording cosine, whitened centroid cosine) per entry."""
        query = self._vectors.embed(text)
        nearest = np.zeros(self.size, np.float32)
        if self._starts.size:
            nearest[self._present] = np.maximum.reduceat(self._wordings @ query, self._starts)
        white: Vector = query @ self._whiten
        norm = float(np.linalg.norm(white))
        if norm > 0:
            white = white / np.float32(norm)
        centroid: Vector = query @ self._centroids_t
        whitened: Vector = white @ self._white_t
        return centroid, nearest, whitened


def _within_scatter(
    wordings: npt.NDArray[np.float32], means: npt.NDArray[np.float32], owners: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Covariance of the wordings around their entry's mean, in blocks of rows.

    Blocks keep the peak memory at a few MB; a whole-matrix difference would briefly double the
    wordings' memory (~100 MB per copy at 100,000 wordings).
    """
    dims = wordings.shape[1]
    cov = np.zeros((dims, dims), np.float64)
    for start in range(0, len(wordings), _BLOCK):
        block = wordings[start : start + _BLOCK] - means[owners[start : start + _BLOCK]]
        cov += block.T @ block
    out: npt.NDArray[np.float64] = cov / max(len(wordings), 1)
    return out


_BLOCK = 4096


def _whitening(cov: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Linear map that makes the (shrunk) within-entry covariance ``cov`` the identity.

    With one wording per entry there is no within-entry scatter: the identity is returned and
    the whitened score equals the plain centroid cosine.
    """
    dims = cov.shape[0]
    scale = float(np.trace(cov)) / dims
    if scale <= 1e-12:
        return np.eye(dims, dtype=np.float32)
    cov = (1.0 - SHRINK) * cov + SHRINK * scale * np.eye(dims)
    values, vectors = np.linalg.eigh(cov)
    out: npt.NDArray[np.float32] = (vectors / np.sqrt(np.maximum(values, 1e-12 * scale))).astype(
        np.float32
    )
    return out


def _unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return out


_lock = threading.Lock()
_shared: StaticVectors | None = None


def shared() -> StaticVectors | None:
    """The process-wide vectors from :data:`DATA_FILE`, or None if the file is not installed."""
    global _shared
    with _lock:
        if _shared is None and DATA_FILE.exists():
            _shared = StaticVectors.load()
        return _shared
