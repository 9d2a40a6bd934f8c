"""Fit the confidence calibrations of the default and semantic matchers on BANKING77 *dev* data.

Usage: python bench/calibrate.py DATA_DIR [--lexical | --semantic]

Without a flag it fits the default matcher's English calibration (lexical + static vectors,
``STATIC_CALIBRATION``); ``--lexical`` fits the lexical score alone (``LEXICAL_CALIBRATION``, used
for locales without vectors and by ``kind="lexical"``); ``--semantic`` the semantic matcher's.

Dev queries are BANKING77 train texts that are not KB phrasings (test queries are never used).
KBs of 12, 20, 40 and 58 intents are drawn; the other intents' queries are out of scope (as many
as in-scope ones, a third for 58). Small KBs matter: there the runner-up is far behind by
default, so the margin alone over-trusts a match that shares one word with the query. Prints the
logistic-regression constants to paste into knowledge/matcher.py / knowledge/semantic.py.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq_accuracy import load_kb  # type: ignore[import-not-found]

from knowledge.entries import KBEntry
from knowledge.evaluate import EvalQuery
from knowledge.matcher import LexicalMatcher

SIZES = {12: 6, 20: 6, 40: 3, 58: 3}  # KB size -> number of draws


def dev_queries(data: Path, kb: list[KBEntry], n: int = 2000) -> list[EvalQuery]:
    used = {t for e in kb for t in e.texts()}
    ids = {e.id.lower(): e.id for e in kb}
    rows = list(csv.reader((data / "raw/banking77/train.csv").open(encoding="utf-8")))[1:]
    dev = [EvalQuery(t, ids.get(c.lower(), c), "en") for t, c in rows if t not in used]
    random.Random(0).shuffle(dev)
    return dev[:n]


def draws(kb: list[KBEntry], dev: list[EvalQuery]) -> Any:
    ids = sorted({e.id for e in kb})
    for size, count in SIZES.items():
        for seed in range(count):
            rng = random.Random(seed * 100 + size)
            keep = set(rng.sample(ids, size))
            inside = [q for q in dev if q.expected in keep]
            outside = [EvalQuery(q.text, None, "en") for q in dev if q.expected not in keep]
            rng.shuffle(outside)
            share = len(inside) // (3 if size == 58 else 1)
            yield [e for e in kb if e.id in keep], inside + outside[:share]


def lexical_rows(
    kept: list[KBEntry], queries: list[EvalQuery], static: bool = True
) -> list[list[float]]:
    matcher = LexicalMatcher(kept, "en", static=static)
    index = matcher._indexes["en"]
    rows = []
    for q in queries:
        scored = matcher.scores(q.text, "en")
        if scored is None:
            continue
        fixed, s = scored
        o = np.argsort(-s)
        rows.append([s[o[0]], s[o[0]] - s[o[1]], index.uncovered(fixed, int(o[0])),
                     index.unknown(fixed), float(index.entry_ids[o[0]] == q.expected)])
    return rows


def semantic_rows(kept: list[KBEntry], queries: list[EvalQuery]) -> list[list[float]]:
    from knowledge import semantic as sm

    matcher = sm.SemanticMatcher(kept, "en", 0.7, sm.load_encoder())
    index, embedded = matcher._indexes["en"], matcher._embedded["en"]
    rows = []
    for q in queries:
        fixed = index.correct_typos(q.text)
        vec = index.vectorize_fixed(fixed)
        lexical = index.scores(vec) if vec.nnz else np.zeros(embedded.size)
        fused, nn, probs = embedded.scores(q.text)
        total = fused + sm.LEXICAL_WEIGHT * sm._z(lexical.astype(np.float32))
        i = int(np.argmax(total))
        rows.append([nn[i], lexical[i], probs[i], index.uncovered(fixed, i), index.unknown(fixed),
                     float(index.entry_ids[i] == q.expected)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--semantic", action="store_true")
    group.add_argument("--lexical", action="store_true")
    args = parser.parse_args()
    kb = load_kb(args.data_dir / "banking77/kb_k10.jsonl")
    dev = dev_queries(args.data_dir, kb)
    def make(kept: list[KBEntry], queries: list[EvalQuery]) -> list[list[float]]:
        if args.semantic:
            return semantic_rows(kept, queries)
        return lexical_rows(kept, queries, static=not args.lexical)

    rows = np.asarray([r for kept, qs in draws(kb, dev) for r in make(kept, qs)])
    fit = LogisticRegression(C=100.0, max_iter=1000).fit(rows[:, :-1], rows[:, -1])
    print("bias", round(float(fit.intercept_[0]), 2), "weights", np.round(fit.coef_[0], 2).tolist())


if __name__ == "__main__":
    main()
