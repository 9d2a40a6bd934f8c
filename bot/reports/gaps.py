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
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import normalize

from bot.reports.model import Table, Value

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

    Kept sparse: only the n x n similarity matrix is dense (GAP_SAMPLE bounds n).
    """
    union = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
    ])
    try:
        matrix = union.fit_transform([t.lower() for t in texts])
    except ValueError:  # nothing but punctuation
        return None
    return normalize(matrix)


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
