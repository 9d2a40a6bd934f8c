"""Size of a kept matcher for a large KB: the stored file, its load time and the process after.

    python bench/matcher_size.py build OUT.pickle --data ../shared/bench/faq [--entries 33334]
    python bench/matcher_size.py load OUT.pickle

``build`` makes the KB of bench/footprint.py (``--entries`` English entries of three BANKING77
wordings each: 33,334 = 100,000 wordings), builds the default-tier matcher and pickles it as
knowledge/store.py keeps it; ``load`` reads it in a fresh process (run it as its own command)
and prints the load time, the resident memory after it and three queries' latency. Compare two
versions of the code by running both steps in each checkout, alternating the loads.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

QUERIES = ("where is my card", "I want a refund for a transaction",
           "how do I top up with apple pay")


def build(out: Path, data: Path, entries: int) -> dict[str, float]:
    from footprint import big_kb

    from knowledge import formats
    from knowledge.matcher import build_matcher

    with tempfile.TemporaryDirectory() as tmp:
        kb = formats.load_file(big_kb(data, entries, Path(tmp) / "kb.jsonl"))
    started = time.perf_counter()
    matcher = build_matcher(kb, "en", None, "default")
    seconds = time.perf_counter() - started
    with out.open("wb") as handle:
        pickle.dump(matcher, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return {"build_s": round(seconds, 1), "stored_MB": round(out.stat().st_size / 1e6, 1)}


def load(path: Path) -> dict[str, object]:
    import knowledge.matcher  # noqa: F401  (what a server has imported before it loads)

    started = time.perf_counter()
    with path.open("rb") as handle:
        matcher = pickle.load(handle)  # our own file, written by `build`
    seconds = time.perf_counter() - started
    gc.collect()
    pages = int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1])
    latencies = []
    for text in QUERIES:
        began = time.perf_counter()
        matcher.match(text, "en")
        latencies.append(round(1000 * (time.perf_counter() - began), 1))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    return {"load_s": round(seconds, 2), "rss_MB": round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6),
            "peak_MB": round(peak), "match_ms": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["build", "load"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--data", type=Path, help="the FAQ benchmark data (for build)")
    parser.add_argument("--entries", type=int, default=33_334)
    args = parser.parse_args()
    if args.step == "build":
        if args.data is None:
            parser.error("build needs --data")
        print(json.dumps(build(args.path, args.data, args.entries)))
    else:
        print(json.dumps(load(args.path)))


if __name__ == "__main__":
    main()
