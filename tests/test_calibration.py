"""Per-KB thresholds (knowledge/calibration.py): fitted on the KB's own wordings."""

from __future__ import annotations

from pathlib import Path

from knowledge.calibration import Trial, cheapest, fit_threshold, held_out_trials
from knowledge.entries import KBEntry
from knowledge.formats import load_file
from knowledge.matcher import DEFAULT_THRESHOLD, LexicalMatcher, build_matcher

SAMPLE = Path(__file__).resolve().parents[1] / "knowledge" / "data" / "sample_kb.yaml"


def test_cheapest_threshold_separates_right_from_wrong() -> None:
    trials = ([Trial(0.9, True, True)] * 40 + [Trial(0.3, False, True)] * 10
              + [Trial(0.2, False, False)] * 30)
    threshold = cheapest(trials)
    assert 0.2 < threshold <= 0.9
    # a costlier wrong answer never lowers the threshold
    mixed = trials + [Trial(0.6, False, True)] * 5 + [Trial(0.6, True, True)] * 10
    assert cheapest(mixed, wrong_cost=10) >= cheapest(mixed, wrong_cost=2)


def test_folds_hold_out_wordings_and_whole_entries() -> None:
    entries = [e for e in load_file(SAMPLE) if e.locale == "en"]
    seen: list[list[KBEntry]] = []

    def factory(kept: list[KBEntry]):  # type: ignore[no-untyped-def]
        seen.append(list(kept))
        return LexicalMatcher(kept, "en").best_of

    trials = held_out_trials(entries, "en", factory)
    assert len(seen) >= 3 and all(len(kb) < len(entries) for kb in seen)
    inside = [t for t in trials if t.in_scope]
    outside = [t for t in trials if not t.in_scope]
    assert len(inside) >= 20 and len(outside) >= 14
    assert all(not t.right for t in outside)
    assert sum(t.right for t in inside) / len(inside) > 0.5


def test_a_tiny_kb_keeps_the_default() -> None:
    tiny = [KBEntry(id=f"e{i}", locale="en", question=f"question {i}", answer="a")
            for i in range(10)]  # one wording each: nothing to hold out
    assert fit_threshold(tiny, "en", lambda kept: LexicalMatcher(kept, "en").best_of) is None
    assert build_matcher(tiny).thresholds == {}  # type: ignore[attr-defined]


def test_fitted_thresholds_never_exceed_the_default_and_a_fixed_one_wins() -> None:
    entries = load_file(SAMPLE)
    fitted = build_matcher(entries)
    assert set(fitted.thresholds) == {"en", "sv", "lv"}  # type: ignore[attr-defined]
    assert all(0.05 <= t <= DEFAULT_THRESHOLD
               for t in fitted.thresholds.values())  # type: ignore[attr-defined]
    fixed = build_matcher(entries, threshold=0.9)
    assert fixed.threshold == 0.9 and fixed.thresholds == {}  # type: ignore[attr-defined]
