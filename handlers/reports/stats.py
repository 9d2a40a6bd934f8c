"""Small statistics used by reports: percentiles, rates, CSAT and NPS."""

from __future__ import annotations

import math
from collections.abc import Sequence

from handlers.surveys.results import nps


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rate(part: int, whole: int) -> float | None:
    """Percentage, None when there is nothing to divide by."""
    return 100.0 * part / whole if whole else None


def csat(values: Sequence[int]) -> float | None:
    """% of 1-5 answers that are 4 or 5 (satisfied)."""
    return rate(sum(1 for v in values if v >= 4), len(values))


def average(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


__all__ = ["average", "csat", "nps", "percentile", "rate"]
