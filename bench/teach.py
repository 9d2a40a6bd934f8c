"""What teaching buys a small KB: customers' questions added to their entries as phrasings.

Usage: python bench/teach.py [--tier auto]

The admin's *Add as a phrasing of* (docs/admin.md) adds a customer's question to the entry that
answers it. Here, for the Swedish and Latvian shop KBs (bench/data/shop_*: 24 entries, question
+ 2 phrasings, three paraphrased questions per entry, 15 out of scope), the first ``k`` of each
entry's paraphrases (file order) are taught, ``k`` = 0, 1, 2, and the matcher is asked the
paraphrases never taught: the last one of each entry (the same 24 questions for every ``k``)
and the out-of-scope questions. Columns as bench/tiers.py: top-1, answered alone (share of
in-scope), answered accuracy, suggest hit, OOS recall. Small samples: 24 in-scope questions
per row, one question is 4.2 points.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.entries import KBEntry  # noqa: E402
from knowledge.evaluate import EvalQuery, evaluate, load_queries  # noqa: E402
from knowledge.formats import load_file  # noqa: E402
from knowledge.matcher import build_matcher  # noqa: E402

TAUGHT = (0, 1, 2)


def taught(entries: Sequence[KBEntry], by_entry: dict[str, list[EvalQuery]], k: int
           ) -> list[KBEntry]:
    """The entries with the first ``k`` of their paraphrases added as phrasings."""
    return [e.model_copy(update={"phrasings": (*e.phrasings,
                                               *(q.text for q in by_entry.get(e.id, [])[:k]))})
            for e in entries]


def row(name: str, tier: str, k: int, entries: list[KBEntry], asked: list[EvalQuery],
        locale: str) -> str:
    r = evaluate(build_matcher(entries, locale, None, tier), asked)
    answered = 1.0 - r["abstain_rate_in_scope"]
    acc = r["answered_accuracy"]
    return (f"| {name} | {k} | {100 * r['top1_accuracy']:.1f} | {100 * answered:.1f} | "
            f"{'-' if acc is None else f'{100 * acc:.1f}'} | "
            f"{100 * (r['suggest_hit_rate'] or 0):.1f} | {100 * (r['oos_recall'] or 0):.1f} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="auto")
    args = parser.parse_args(argv)
    print("| set | taught per entry | top-1 | answered alone | answered accuracy | suggest hit "
          "| OOS recall |")
    print("|---|---|---|---|---|---|---|")
    for locale in ("sv", "lv"):
        folder = ROOT / "bench" / "data" / f"shop_{locale}"
        entries = load_file(folder / "kb.jsonl")
        queries = load_queries(folder / "queries.jsonl")
        by_entry: dict[str, list[EvalQuery]] = defaultdict(list)
        for query in queries:
            if query.expected is not None:
                by_entry[query.expected].append(query)
        asked = [qs[-1] for qs in by_entry.values()] + [q for q in queries if q.expected is None]
        for k in TAUGHT:
            print(row(f"shop {locale}", args.tier, k, taught(entries, by_entry, k), asked,
                      locale), flush=True)


if __name__ == "__main__":
    main()
