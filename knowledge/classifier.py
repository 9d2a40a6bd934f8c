"""A linear classifier over a KB's wording embeddings, for KBs that give it enough examples.

The centroid of an entry's wordings treats every direction of the embedding alike. With many
wordings per entry (BANKING77 and HWU64 are written with 10) a multinomial logistic regression
learns which directions tell this KB's entries apart; fused with the lexical score and the
centroid cosine (knowledge/fusion.py) it raised top-1 on BANKING77 dev from 81.2 to 83.2 %
(C chosen there among 1, 10 and 100; docs/matching.md). With the 3-4 wordings a small shop
writes it is no better than the centroid (its examples are the centroid's), so it is trained
only from :data:`MIN_WORDINGS_PER_ENTRY` on.

Only the weights are kept (numpy arrays), so a process that loads a stored matcher never
imports scikit-learn; the fit runs where the matcher is built (a child process in a server).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]

#: Mean wordings per entry from which the classifier is trained.
MIN_WORDINGS_PER_ENTRY = 5.0
#: Inverse regularisation strength (BANKING77 dev: C=1 / 10 / 100 gave 81.2 / 82.0 / 83.2 %).
C = 100.0
#: Enough for the fit to settle on KBs up to the fused tier's size limit (5,000 wordings and
#: 1,000 entries: ~7 s on one core); the optimiser stops earlier when it converges.
MAX_ITER = 300


@dataclass(frozen=True, slots=True)
class LinearClassifier:
    """Weights of one fitted classifier: ``scores(v) = v @ coef_t + intercept`` per entry."""

    coef_t: Matrix
    intercept: Matrix

    def scores(self, vector: Matrix) -> Matrix:
        out: Matrix = vector @ self.coef_t + self.intercept
        return out


def fit(vectors: Matrix, labels: npt.NDArray[np.int64], entries: int) -> LinearClassifier | None:
    """The classifier of ``vectors`` (one row per wording) into ``entries`` classes, or None
    when the KB has too few wordings per entry or some entry has none (it could never be
    chosen, and its score would be undefined)."""
    counts = np.bincount(labels, minlength=entries)
    if entries < 3 or counts.min() == 0 or len(labels) < MIN_WORDINGS_PER_ENTRY * entries:
        return None
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at MAX_ITER: the fit is usable
        model = LogisticRegression(C=C, max_iter=MAX_ITER).fit(vectors, labels)
    return LinearClassifier(np.ascontiguousarray(model.coef_.T, dtype=np.float64),
                            np.asarray(model.intercept_, dtype=np.float64))
