"""The default matcher against ``CRMBOT_MATCHER=fused`` (knowledge/fusion.py), side by side.

    .venv/bin/python bench/e5_fusion.py [FAQ_DATA_DIR] [--banking77]
    .venv/bin/python bench/e5_fusion.py --platt

``--platt`` prints the Platt map of each KB and locale fitted on its held-out questions, and
the pooled fit over all of them (knowledge/fusion.py FALLBACK_PLATT, for KBs that cannot be
held out in turn).

For each set and matcher: top-1 of the best candidate; how many in-scope questions are
answered alone and how many of those right; of the questions not answered alone, how often the
right entry is among the suggestions the FAQ handler would show (confidence >= SUGGEST_MIN,
at most three) and how often any is shown; for out-of-scope questions, how many are answered
(wrong) or shown suggestions; and the median / p99 time of one match on this machine.
Sets: bench/data/shop_{sv,lv} (24 entries, paraphrased queries, 15 out of scope), the sample
KB's paraphrase sets (tests/data), SweFAQ dev and (``--banking77``, slower) BANKING77 K=10
from FAQ_DATA_DIR (default ../shared/bench/faq) when present.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bot.config import SAMPLE_KB  # noqa: E402
from bot.kb import MAX_SUGGESTIONS, SUGGEST_MIN  # noqa: E402
from knowledge import fusion  # noqa: E402
from knowledge.entries import KBEntry  # noqa: E402
from knowledge.evaluate import EvalQuery, load_queries  # noqa: E402
from knowledge.formats import load_file  # noqa: E402
from knowledge.matcher import Matcher, build_matcher  # noqa: E402


def _entries(path: Path) -> list[KBEntry]:
    fields = set(KBEntry.model_fields)
    return [KBEntry(**{k: v for k, v in json.loads(line).items() if k in fields})
            for line in path.read_text("utf-8").splitlines() if line.strip()]


def measure(matcher: Matcher, queries: list[EvalQuery]) -> dict[str, float]:
    counts = dict.fromkeys(("in", "top1", "answered", "right", "unsure", "shown_right",
                            "shown", "oos", "oos_answered", "oos_shown"), 0)
    times: list[float] = []
    for query in queries:
        started = time.perf_counter()
        result = matcher.match(query.text, query.locale, MAX_SUGGESTIONS)
        times.append((time.perf_counter() - started) * 1000)
        shown = [c.entry_id for c in result.candidates if c.score >= SUGGEST_MIN]
        if query.expected is None:
            counts["oos"] += 1
            counts["oos_answered"] += result.confident
            counts["oos_shown"] += not result.confident and bool(shown)
            continue
        counts["in"] += 1
        counts["top1"] += result.best is not None and result.best.entry_id == query.expected
        if result.confident:
            counts["answered"] += 1
            counts["right"] += result.best is not None and result.best.entry_id == query.expected
        else:
            counts["unsure"] += 1
            counts["shown"] += bool(shown)
            counts["shown_right"] += query.expected in shown
    times.sort()
    return {**counts, "p50": statistics.median(times), "p99": times[int(0.99 * (len(times) - 1))]}


def _row(name: str, kind: str, build: float, r: dict[str, float]) -> str:
    oos = f"{r['oos_answered']:.0f} / {r['oos_shown']:.0f} of {r['oos']:.0f}" if r["oos"] else "-"
    return (f"| {name} | {kind} | {r['top1'] / r['in']:.1%} | {r['answered']:.0f} "
            f"({r['right']:.0f} right) | {r['shown_right']:.0f} of {r['unsure']:.0f} "
            f"({r['shown']:.0f} shown any) | {oos} | {r['p50']:.1f} / {r['p99']:.1f} | "
            f"{build:.1f} |")


def platt_maps() -> int:
    """Per-KB Platt maps and their pooled fit (FALLBACK_PLATT)."""
    kbs = [("sample", load_file(SAMPLE_KB))] + [
        (f"shop_{loc}", _entries(ROOT / f"bench/data/shop_{loc}/kb.jsonl")) for loc in ("sv", "lv")]
    pooled: tuple[list[tuple[float, float]], list[bool]] = ([], [])
    for name, kb in kbs:
        for locale in sorted({e.locale for e in kb}):
            features, right, _ = fusion._held_out(kb, locale)
            if features:
                platt = fusion._platt(np.asarray([f[:2] for f in features]),
                                     np.asarray(right, dtype=float))
                print(name, locale, len(features), "questions:", _rounded(platt))
                pooled[0].extend(f[:2] for f in features)
                pooled[1].extend(right)
    platt = fusion._platt(np.asarray(pooled[0]), np.asarray(pooled[1], dtype=float))
    print("pooled", len(pooled[0]), "questions:", _rounded(platt))
    return 0


def _rounded(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(round(v, 3) for v in values)


def main() -> int:
    if "--platt" in sys.argv:
        return platt_maps()
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = Path(args[0]) if args else ROOT.parent / "shared" / "bench" / "faq"
    sets = [(f"shop {loc}", _entries(ROOT / f"bench/data/shop_{loc}/kb.jsonl"),
             ROOT / f"bench/data/shop_{loc}/queries.jsonl") for loc in ("sv", "lv")]
    sample = load_file(SAMPLE_KB)
    sets += [(f"sample KB paraphrases {loc}", sample,
              ROOT / f"tests/data/shop_paraphrases_{loc}.jsonl") for loc in ("sv", "lv", "en")]
    if (data / "swefaq-dev").is_dir():
        sets.append(("SweFAQ dev", _entries(data / "swefaq-dev/kb.jsonl"),
                     data / "swefaq-dev/queries.jsonl"))
    if "--banking77" in sys.argv and (data / "banking77").is_dir():
        sets.append(("BANKING77 K=10", _entries(data / "banking77/kb_k10.jsonl"),
                     data / "banking77/test_queries.jsonl"))
    print("| set | matcher | top-1 | answered alone | right among shown suggestions "
          "(unsure questions) | out of scope: answered / shown suggestions | match p50 / "
          "p99 ms | build s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kb, path in sets:
        queries = load_queries(path)
        for kind in ("default", "fused"):
            started = time.perf_counter()
            matcher = build_matcher(kb, "en", None, kind)
            build = time.perf_counter() - started
            print(_row(name, kind, build, measure(matcher, queries)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
