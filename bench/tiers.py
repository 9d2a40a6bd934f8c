"""Every shipped matcher tier on every set, in one run (``bench/faq_accuracy.py --tiers``).

Usage: python bench/tiers.py SHARED_FAQ_DIR [--sets NAME,...] [--tiers KIND,...]

Sets: the sample KB asked the paraphrases in tests/data (en, sv, lv); the Swedish and Latvian
small shops (bench/data/shop_*: 24 entries, question + 2 phrasings, paraphrased queries that
share few words with them, 15 out-of-scope questions each); SweFAQ dev; BANKING77 and HWU64 with
K=10 phrasings per intent, whole, and again with a quarter of their intents left out of the KB
(seed 0) so that their queries are out of scope. Tiers: ``lexical``, ``default`` (lexical +
English static vectors), ``auto`` (the shipped default: fused with multilingual e5) and, where
the ``semantic`` extra (torch) is installed, ``semantic``.

Columns: top-1 of the best guess (in-scope queries), answered alone (share of in-scope) and the
accuracy of those answers, suggest hit (the right entry among the suggestions the bot offers
when it does not answer: MatchResult.suggestions), top-3 hit (among the top three candidates,
offered or not), OOS recall (out-of-scope queries not answered) and how many of those were
offered suggestions, cost per query (a wrong answer 4, an
in-scope abstention 1: the cost the per-KB thresholds minimise), match mean / p50 / p99 on this
machine (after the matcher's warm-up: the encoder's one-time load is not in them),
and the build time (per-KB calibration included; e5 embeddings are cached within the run).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from thresholds import with_oos  # noqa: E402  (bench/thresholds.py: the same quarter, seed 0)

from knowledge.entries import KBEntry  # noqa: E402
from knowledge.evaluate import EvalQuery, evaluate, load_queries  # noqa: E402
from knowledge.formats import load_file  # noqa: E402
from knowledge.matcher import build_matcher  # noqa: E402

TIERS = ("lexical", "default", "auto") + (
    ("semantic",) if importlib.util.find_spec("sentence_transformers") else ())
WRONG_COST = 4.0
Case = tuple[str, list[KBEntry], list[EvalQuery], str]


def cases(shared: Path) -> list[Case]:
    sample = load_file(ROOT / "knowledge/data/sample_kb.yaml")
    found: list[Case] = [
        (f"sample KB {loc}", sample,
         load_queries(ROOT / f"tests/data/shop_paraphrases_{loc}.jsonl"), "en")
        for loc in ("en", "sv", "lv")]
    for loc in ("sv", "lv"):
        found.append((f"shop {loc} (+OOS)", load_file(ROOT / f"bench/data/shop_{loc}/kb.jsonl"),
                      load_queries(ROOT / f"bench/data/shop_{loc}/queries.jsonl"), loc))
    if (shared / "swefaq-dev").is_dir():
        found.append(("SweFAQ dev", load_file(shared / "swefaq-dev/kb.jsonl"),
                      load_queries(shared / "swefaq-dev/queries.jsonl"), "sv"))
    for name in ("banking77", "hwu64"):
        if not (shared / name).is_dir():
            continue
        kb = load_file(shared / name / "kb_k10.jsonl")
        queries = load_queries(shared / name / "test_queries.jsonl")
        found.append((f"{name} K=10", kb, queries, "en"))
        found.append((f"{name} K=10 (-25 % intents: OOS)", *with_oos(kb, queries), "en"))
    return found


def row(name: str, tier: str, entries: Sequence[KBEntry], queries: Sequence[EvalQuery],
        locale: str) -> str:
    started = time.perf_counter()
    matcher = build_matcher(entries, locale, None, tier)
    build = time.perf_counter() - started
    r = evaluate(matcher, queries)
    answered = 1.0 - r["abstain_rate_in_scope"]
    return (f"| {name} | {tier} | {_pct(r['top1_accuracy'])} | {_pct(answered)} | "
            f"{_pct(r['answered_accuracy'])} | {_pct(r['suggest_hit_rate'])} | "
            f"{_pct(r['suggest_top3_rate'])} | {_pct(r['oos_recall'])} | "
            f"{_pct(r['oos_suggest_rate'])} | {cost(r, answered):.3f} | "
            f"{r['latency_ms_mean']:.1f} / {r['latency_ms_p50']:.1f} / {r['latency_ms_p99']:.1f} | "
            f"{build:.1f} |")


def cost(r: dict[str, Any], answered: float) -> float:
    """Per query: WRONG_COST per wrong answer (in or out of scope), 1 per in-scope abstention."""
    n_in, n_out = r["n_in_scope"], r["n_out_of_scope"]
    wrong_in = n_in * answered * (1.0 - (r["answered_accuracy"] or 0.0))
    wrong_out = n_out * (1.0 - (r["oos_recall"] or 0.0)) if n_out else 0.0
    abstained = n_in * (1.0 - answered)
    return (WRONG_COST * (wrong_in + wrong_out) + abstained) / max(n_in + n_out, 1)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, nargs="?", default=ROOT.parent / "shared/bench/faq")
    parser.add_argument("--sets", help="comma-separated prefixes of set names to run")
    parser.add_argument("--tiers", default=",".join(TIERS))
    args = parser.parse_args(argv)
    wanted = args.sets.split(",") if args.sets else None
    print("| set | tier | top-1 | answered alone | answered accuracy | suggest hit | top-3 hit "
          "| OOS recall | OOS offered suggestions | cost | match mean / p50 / p99 ms | build s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, kb, queries, locale in cases(args.data_dir):
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        for tier in args.tiers.split(","):
            print(row(name, tier, kb, queries, locale), flush=True)


if __name__ == "__main__":
    main()
