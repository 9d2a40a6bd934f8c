"""Negative-review detection on the written review sets: recall and precision per language.

    python bench/sentiment.py [DATA_DIR]

DATA_DIR defaults to tests/data/reviews: ``{en,sv,lv}.jsonl`` is the development set (the
rules were tuned on it), ``heldout/`` was written after the rules were frozen (the review model
is fitted on both and on ``train_extra/``), ``unseen/`` and ``fresh/`` were never fitted or
tuned on (``unseen/``'s errors led to ``train_extra/``; ``fresh/`` was written before that model
was measured). Prints one Markdown table, the lexicon alone and lexicon + model side by side
(docs/benchmarks.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.intake import sentiment


def figures(path: Path, model: bool) -> tuple[int, float, float]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    recall, precision = sentiment.measure(
        [(r["text"], bool(r["negative"])) for r in rows], model=model)
    return len(rows), recall, precision


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parents[1] / "tests" / "data" / "reviews")
    print("| set | language | reviews | lexicon: recall / precision "
          "| lexicon + model: recall / precision |")
    print("|---|---|---|---|---|")
    for name, folder in (("development (model fitted)", root),
                         ("held out (model fitted)", root / "heldout"),
                         ("unseen (showed the gap train_extra fills)", root / "unseen"),
                         ("fresh", root / "fresh")):
        for language in ("en", "sv", "lv"):
            n, recall, precision = figures(folder / f"{language}.jsonl", model=False)
            _, both_recall, both_precision = figures(folder / f"{language}.jsonl", model=True)
            print(f"| {name} | {language} | {n} | {recall:.0%} / {precision:.0%} "
                  f"| {both_recall:.0%} / {both_precision:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
