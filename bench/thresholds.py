"""Fixed versus per-KB thresholds (knowledge/calibration.py), side by side in one run.

Usage: python bench/thresholds.py SHARED_FAQ_DIR

For every set: the shipped fixed threshold (0.7) and the thresholds fitted on the KB's own
wordings, with accuracy (answered right, abstentions count wrong), answered accuracy, in-scope
abstention, suggestion hit rate, OOS recall and the extra build time calibration costs.
BANKING77 and HWU64 (K=10) get out-of-scope queries by dropping a quarter of their intents
(seed 0) from the KB; the Swedish and Latvian small-shop sets (bench/data/shop_*) carry their
own out-of-scope questions; the sample KB is asked the shop paraphrases in tests/data.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.entries import KBEntry
from knowledge.evaluate import EvalQuery, evaluate, load_queries
from knowledge.formats import load_file
from knowledge.matcher import DEFAULT_THRESHOLD, build_matcher

ROOT = Path(__file__).resolve().parents[1]
Case = tuple[str, list[KBEntry], list[EvalQuery], str]


def with_oos(entries: list[KBEntry], queries: list[EvalQuery]) -> tuple[list[KBEntry],
                                                                        list[EvalQuery]]:
    ids = sorted({e.id for e in entries})
    random.Random(0).shuffle(ids)
    gone = set(ids[: len(ids) // 4])
    kept = [e for e in entries if e.id not in gone]
    return kept, [EvalQuery(q.text, None if q.expected in gone else q.expected, q.locale)
                  for q in queries]


def cases(shared: Path) -> list[Case]:
    sample = load_file(ROOT / "knowledge/data/sample_kb.yaml")
    found: list[Case] = [
        (f"sample KB, {loc} paraphrases", sample,
         load_queries(ROOT / f"tests/data/shop_paraphrases_{loc}.jsonl"), "en")
        for loc in ("en", "sv", "lv")
    ]
    for loc in ("sv", "lv"):
        kb = load_file(ROOT / f"bench/data/shop_{loc}/kb.jsonl")
        found.append((f"small shop {loc} (+OOS)", kb,
                      load_queries(ROOT / f"bench/data/shop_{loc}/queries.jsonl"), loc))
    for name in ("banking77", "hwu64"):
        kb, queries = with_oos(load_file(shared / name / "kb_k10.jsonl"),
                               load_queries(shared / name / "test_queries.jsonl"))
        found.append((f"{name} K=10 (+25 % intents OOS)", kb, queries, "en"))
    return found


def row(name: str, entries: Sequence[KBEntry], queries: Sequence[EvalQuery],
        locale: str) -> str:
    cells = [name]
    for threshold in (DEFAULT_THRESHOLD, None):
        started = time.perf_counter()
        matcher = build_matcher(entries, locale, threshold)
        build_ms = (time.perf_counter() - started) * 1000
        r = evaluate(matcher, queries)
        fitted = getattr(matcher, "thresholds", {}) if threshold is None else {}
        cells.append(" / ".join(_pct(r[k]) for k in (
            "accuracy", "answered_accuracy", "abstain_rate_in_scope", "suggest_hit_rate",
            "oos_recall")) + f" ({build_ms:.0f} ms)")
        if threshold is None:
            cells.append(", ".join(f"{k} {v:.3g}" for k, v in sorted(fitted.items())) or "-")
    return "| " + " | ".join(cells) + " |"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/bench/faq")
    print("| set | fixed 0.7: acc / ans. acc / abstain / suggest hit / OOS recall (build) "
          "| fitted: same | fitted thresholds |")
    print("|---|---|---|---|")
    for case in cases(shared):
        print(row(*case), flush=True)


if __name__ == "__main__":
    main()
