"""Help-center page latency with a KB of 1,000 entries (issue 33: p99 <= 20 ms on one core).

    python bench/helpcenter.py [--entries 1000] [--requests 2000] [--cpu 1]

Builds the real app (``bot.app.build_app``) on a fresh SQLite database holding ``--entries``
generated entries (en, with tags; a third also in sv), serves it on 127.0.0.1 and requests,
one after another over one keep-alive connection, the pages a visitor reads: article pages
(random, so most are cached after their first view), the home page, the news page and
searches (never cached: each runs the matcher). The server process is pinned to ``--cpu``
(the client runs in another process on the other core). Prints one JSON object: per route
p50/p99/max in milliseconds, measured after a warm-up pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "order", "delivery", "parcel", "refund", "invoice", "account", "password", "card",
    "payment", "return", "size", "colour", "warranty", "discount", "voucher", "shipping",
    "address", "store", "opening", "hours", "exchange", "gift", "subscription", "newsletter",
    "stock", "repair", "battery", "charger", "screen", "cable",
)
TAGS = ("orders", "delivery", "payment", "returns", "account", "products")


def kb_file(path: Path, entries: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    rows = []
    for n in range(entries):
        words = rnd.sample(WORDS, 4)
        question = f"How do I {words[0]} my {words[1]} with {words[2]} number {n}?"
        answer = (f"To {words[0]} your {words[1]}, open My pages and choose {words[3]}. "
                  f"Reference {n}. " * 3)
        rows.append({"id": f"entry_{n}", "locale": "en", "question": question,
                     "phrasings": [f"{words[1]} {words[0]} {n}", f"help with {words[2]} {n}"],
                     "answer": answer, "tags": [TAGS[n % len(TAGS)]]})
        if n % 3 == 0:
            rows.append({**rows[-1], "locale": "sv", "question": f"Hur gör jag {n}?",
                         "phrasings": [f"fråga {n}"], "answer": f"Svar nummer {n}."})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def serve(db: Path, kb: Path, port: int, cpu: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CRMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
           "CRMBOT_KB_SEED": str(kb), "CRMBOT_HTTP_PORT": str(port), "CRMBOT_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "bot.py", "run"]
    if hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(cpu), *command]
    return subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[1])


async def measure(base: str, entries: int, requests: int) -> dict[str, dict[str, float]]:
    import aiohttp

    rnd = random.Random(11)
    routes = {
        "article": lambda: f"/help/en/entry-{rnd.randrange(entries)}",
        "home": lambda: "/help/en/",
        "news": lambda: "/help/en/news",
        "search": lambda: f"/help/en/search?q={rnd.choice(WORDS)}+{rnd.choice(WORDS)}",
    }
    timings: dict[str, list[float]] = {name: [] for name in routes}
    async with aiohttp.ClientSession() as http:
        for _ in range(60):  # wait for the server and the first matcher build
            try:
                async with http.get(base + "/help/en/") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
        for warm in (True, False):
            for i in range(requests):
                name = ("article", "article", "article", "home", "search", "news")[i % 6]
                started = time.perf_counter()
                async with http.get(base + routes[name]()) as r:
                    await r.read()
                    assert r.status == 200, (name, r.status)
                if not warm:
                    timings[name].append((time.perf_counter() - started) * 1000)
    return {name: {"n": len(t), "p50_ms": round(statistics.median(t), 2),
                   "p99_ms": round(statistics.quantiles(t, n=100)[98], 2),
                   "max_ms": round(max(t), 2)} for name, t in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=1)
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kb = Path(tmp) / "kb.jsonl"
        kb_file(kb, args.entries)
        server = serve(Path(tmp) / "crmbot.db", kb, args.port, args.cpu)
        try:
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, {0 if args.cpu else 1})
            result = asyncio.run(measure(f"http://127.0.0.1:{args.port}", args.entries,
                                         args.requests))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({"entries": args.entries, "requests": args.requests, "routes": result},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
