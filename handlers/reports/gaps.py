"""Knowledge gaps: cluster the questions the bot could not answer into suggested new entries.

Per language, texts are turned into TF-IDF vectors (word 1-2 grams plus character 3-5 grams
within words, so "refund"/"refunds" and small typos still meet) and grouped by agglomerative
clustering with average linkage on cosine distance, cut at ``DISTANCE`` (questions closer than
that are one topic). Each cluster is labelled with its most central question: the member with
the highest mean cosine similarity to the others. Largest clusters first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from handlers.reports.model import Table, Value

DISTANCE = 0.85
TOP = 20
EXAMPLES = 3


@dataclass(frozen=True)
class Gap:
    locale: str
    size: int
    label: str
    examples: tuple[str, ...]


def cluster(texts: list[str], distance: float = DISTANCE) -> list[list[int]]:
    """Indexes of ``texts`` grouped by topic, biggest group first (ties: first seen)."""
    if len(texts) < 2:
        return [[0]] if texts else []
    vectors = _vectorize(texts)
    if vectors is None:
        return [[i] for i in range(len(texts))]
    distances = np.clip(1.0 - (vectors @ vectors.T).toarray(), 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    labels = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                     distance_threshold=distance).fit_predict(distances)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[int(label)].append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def _vectorize(texts: list[str]) -> Any:
    """L2-normalised sparse TF-IDF rows (word and character n-grams), None if no features.

    Equal to ``FeatureUnion`` of two ``TfidfVectorizer`` (word 1-2, char_wb 3-5, sublinear tf)
    fitted on ``texts``, but each distinct text is analysed once and its count row repeated:
    the n-gram extraction is the costly, pure-Python part, and unanswered questions repeat a
    lot. Counts, idf and norms see every row, so the matrix is the same (tested).
    Kept sparse: only the n x n similarity matrix is dense (GAP_SAMPLE bounds n).
    """
    lowered = [t.lower() for t in texts]
    unique = list(dict.fromkeys(lowered))
    index = {t: i for i, t in enumerate(unique)}
    rows = np.fromiter((index[t] for t in lowered), dtype=np.intp, count=len(lowered))
    parts = []
    try:
        for counter in (CountVectorizer(ngram_range=(1, 2), dtype=np.float64),
                        CountVectorizer(analyzer="char_wb", ngram_range=(3, 5),
                                        dtype=np.float64)):
            counts = counter.fit_transform(unique)[rows]
            parts.append(TfidfTransformer(sublinear_tf=True).fit(counts)
                         .transform(counts, copy=False))
    except ValueError:  # nothing but punctuation
        return None
    return normalize(sparse.hstack(parts).tocsr())


def central(texts: list[str], members: list[int]) -> int:
    """The member most similar on average to the others (the cluster's label)."""
    if len(members) <= 2:
        return members[0]
    vectors = _vectorize([texts[i] for i in members])
    if vectors is None:
        return members[0]
    score = np.asarray((vectors @ vectors.T).sum(axis=1)).ravel()
    return members[int(np.argmax(score))]


def find_gaps(questions: list[tuple[str, str]], top: int = TOP) -> list[Gap]:
    """Clusters of (text, locale) questions as suggested entries, largest first."""
    by_locale: dict[str, list[str]] = defaultdict(list)
    for text, locale in questions:
        if text.strip():
            by_locale[locale].append(text.strip())
    gaps: list[Gap] = []
    for locale, texts in sorted(by_locale.items()):
        for members in cluster(texts):
            label = texts[central(texts, members)]
            others = tuple(dict.fromkeys(texts[i] for i in members if texts[i] != label))
            gaps.append(Gap(locale, len(members), label, others[:EXAMPLES]))
    gaps.sort(key=lambda g: (-g.size, g.locale, g.label))
    return gaps[:top]


def gaps_table(questions: list[tuple[str, str]]) -> Table:
    rows: list[list[Value]] = [[g.size, g.locale, g.label, " | ".join(g.examples)]
                               for g in find_gaps(questions)]
    return Table("gaps", "Knowledge gaps: suggested new entries",
                 ["questions", "locale", "suggested_question", "examples"], rows)
