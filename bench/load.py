"""End-to-end load benchmark through the Telegram webhook path (issue 13).

    python bench/load.py [--seconds 10] [--chats 64] [--pg-url URL] [--only NAME ...]
                         [--rates R ...] [--before DIR] [--memory]

Side by side in one run, against the same fake Bot API (bench/fake_bot_api.py, in this
process, pinned to CPU 0) with each bot pinned to CPU 1 (one core) where possible:

- echo-httpx / echo-aiohttp: a bare python-telegram-bot echo bot (bench/echo_bot.py), PTB's
  default networking and an aiohttp request backend;
- crmbot-sqlite: `crmbot run` in webhook mode on SQLite, storing every message and reply and
  matching every question against the sample KB;
- crmbot-pg-1 / crmbot-pg-2: the same on PostgreSQL with one and two processes (pg-2: both CPUs).

For each: the maximum rate with closed-loop chats (each chat waits for its reply before
sending the next question), then latency p50/p99 at half that rate (open loop), and the bots'
resident memory growth for 10,000 new conversations (crmbot-sqlite only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fake_bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
QUESTIONS = [
    "Where is my order?", "How much does shipping cost?", "How do I return an item?",
    "Which payment methods do you accept?", "What are your opening hours?",
    "How long does delivery take?", "Can I change my delivery address?",
]
_update_ids = itertools.count(1)


@dataclass
class Result:
    name: str
    max_rate: float = 0.0
    closed_p50_ms: float = 0.0
    half_rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    lost: int = 0
    rss_mb_per_10k: float | None = None
    notes: list[str] = field(default_factory=list)
    #: (rate, p50 ms, p99 ms, lost) open-loop at the rates given with --rates (new chats)
    fixed: list[tuple[float, float, float, int]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _update(chat_id: int, text: str) -> dict[str, object]:
    n = next(_update_ids)
    user = {"id": chat_id, "is_bot": False, "first_name": f"U{chat_id}"}
    return {"update_id": n, "message": {
        "message_id": n, "date": int(time.time()), "text": text, "from": user,
        "chat": {"id": chat_id, "type": "private", "first_name": user["first_name"]},
    }}


def _wa_delivery(chat_id: int, text: str, n: int) -> dict[str, object]:
    message = {"from": str(chat_id), "id": f"wamid.bench.{chat_id}.{n}", "type": "text",
               "timestamp": str(int(time.time())), "text": {"body": text}}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1055"},
             "contacts": [{"profile": {"name": "Bench"}, "wa_id": str(chat_id)}],
             "messages": [message]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Driver:
    """Sends updates to the bot's webhook (Telegram's, or WhatsApp's signed deliveries) and
    waits for the fake API to see the replies."""

    def __init__(self, api: FakeBotApi, targets: list[str], whatsapp: bool = False) -> None:
        self.api = api
        self.targets = itertools.cycle(targets)
        self.whatsapp = whatsapp
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
        self._ids = itertools.count()

    def _request(self, chat_id: int, text: str) -> tuple[bytes, dict[str, str]]:
        if not self.whatsapp:
            return (json.dumps(_update(chat_id, text)).encode(),
                    {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"})
        body = json.dumps(_wa_delivery(chat_id, text, next(self._ids))).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return body, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}

    async def ask(self, chat_id: int, text: str, timeout: float = 20.0) -> float | None:
        fut = self.api.expect_reply(chat_id)
        started = time.perf_counter()
        body, headers = self._request(chat_id, text)
        async with self.http.post(next(self.targets), data=body, headers=headers) as resp:
            if resp.status != 200:
                return None
        try:
            arrived = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None
        return arrived - started

    async def closed_loop(self, chats: int, seconds: float, base: int) -> tuple[int, list[float]]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def user(chat_id: int) -> None:
            for k in itertools.count():
                if time.perf_counter() >= deadline:
                    return
                lat = await self.ask(chat_id, QUESTIONS[k % len(QUESTIONS)])
                if lat is not None:
                    latencies.append(lat)

        await asyncio.gather(*(user(base + c) for c in range(chats)))
        return len(latencies), latencies

    async def open_loop(
        self, rate: float, count: int, base: int, chats: int
    ) -> tuple[list[float], int]:
        tasks = []
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(
                self.ask(base + i % chats, QUESTIONS[i % len(QUESTIONS)])))
        results = await asyncio.gather(*tasks)
        return [r for r in results if r is not None], sum(r is None for r in results)

    async def close(self) -> None:
        await self.http.close()


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for proc in [pid, *_children(pid)]:
            try:
                for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [int(x) for x in out.split()]


def _pin(cpu: int | None) -> list[str]:
    """taskset to one CPU, or with ``None`` to all of them. "Not pinned" must say so: a child
    inherits this process's own pinning to CPU 0, so until 2026-12-04 the two crmbot-pg-2
    workers shared CPU 0 with the fake API and the driver (and did no better than one)."""
    count = os.cpu_count() or 1
    if shutil.which("taskset") and count > 1:
        return ["taskset", "-c", f"0-{count - 1}" if cpu is None else str(cpu)]
    return []


async def _wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (each ``--workers`` process has its own: SO_REUSEPORT)."""
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local, state = fields[1], fields[3]
                found += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return found


async def _wait_listeners(url: str, wanted: int, timeout: float = 180) -> None:
    """Wait until every worker listens. The kernel spreads *connections* over the workers, and
    the driver keeps its connections alive: those opened while only the first worker listened
    would carry the whole run to it (measured: the second of two did ~2 % of the work)."""
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while _listeners(port) < wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: fewer than {wanted} workers listen")
        await asyncio.sleep(0.2)


def _crmbot_env(api_url: str, port: int, db_url: str,
                whatsapp: bool = False) -> dict[str, str]:
    env = {**os.environ,
           "CRMBOT_DATABASE_URL": db_url, "CRMBOT_HTTP_PORT": str(port),
           "CRMBOT_PUBLIC_URL": f"http://127.0.0.1:{port}", "CRMBOT_LOG_LEVEL": "WARNING"}
    if whatsapp:  # the WhatsApp channel alone, its throughput limit off (as Telegram's below)
        return {**env, "CRMBOT_WHATSAPP_TOKEN": "bench", "CRMBOT_WHATSAPP_PHONE_NUMBER_ID": "1055",
                "CRMBOT_WHATSAPP_APP_SECRET": SECRET, "CRMBOT_WHATSAPP_VERIFY_TOKEN": SECRET,
                "CRMBOT_WHATSAPP_API_URL": api_url, "CRMBOT_WHATSAPP_RATE": "0"}
    return {**env, "CRMBOT_TELEGRAM_TOKEN": "123:bench",
            "CRMBOT_TELEGRAM_API_URL": api_url, "CRMBOT_TELEGRAM_MODE": "webhook",
            "CRMBOT_TELEGRAM_WEBHOOK_SECRET": SECRET, "CRMBOT_TELEGRAM_GLOBAL_RATE": "0"}


def _prepare_pg(pg_url: str, root: Path = ROOT) -> str:
    from sqlalchemy.engine import make_url

    given = make_url(pg_url)
    name = given.database or "crmbot_bench"  # the URL's database is dropped and re-created
    bench = given.set(database=name).render_as_string(hide_password=False)
    plain = given.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", plain, "-qc", sql], check=True, capture_output=True)
    subprocess.run([sys.executable, "bot.py", "db", "upgrade"], cwd=root, check=True,
                   env={**os.environ, "CRMBOT_DATABASE_URL": bench}, capture_output=True)
    return bench


Starter = Callable[[str], tuple[list[subprocess.Popen[bytes]], list[str]]]


def starters(tmp: Path, pg_url: str | None, before: Path | None = None) -> dict[str, Starter]:
    """Every bot to measure; with ``before`` (another checkout, e.g. ``git archive HEAD``)
    each crmbot row is also run from that tree, so an optimisation is compared side by side."""
    def echo(backend: str) -> Starter:
        def start(api_url: str) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
            port = _free_port()
            cmd = [*_pin(1), sys.executable, "bench/echo_bot.py", str(port), api_url, backend]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
            return [proc], [f"http://127.0.0.1:{port}"]
        return start

    def crmbot(db: str, workers: int, pin: bool, root: Path = ROOT,
               whatsapp: bool = False) -> Starter:
        def start(api_url: str) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
            port = _free_port()
            db_url = db if db != "sqlite" else f"sqlite+aiosqlite:///{tmp}/bench-{port}.db"
            if db == "pg":
                assert pg_url
                db_url = _prepare_pg(pg_url, root)
            cmd = [*_pin(1 if pin else None), sys.executable, "bot.py", "run",
                   "--workers", str(workers)]
            proc = subprocess.Popen(cmd, cwd=root,
                                    env=_crmbot_env(api_url, port, db_url, whatsapp),
                                    stdout=subprocess.DEVNULL)
            # one entry per worker process, all on one port (see _wait_listeners)
            return [proc], [f"http://127.0.0.1:{port}"] * workers
        return start

    found = {"echo-httpx": echo("httpx"), "echo-aiohttp": echo("aiohttp")}
    kinds = [("crmbot-sqlite", "sqlite", 1, True)]
    if pg_url:
        kinds += [("crmbot-pg-1", "pg", 1, True), ("crmbot-pg-2", "pg", 2, False)]
    for name, db, workers, pin in kinds:  # interleaved, so drift in the load hits both alike
        for suffix, root in [("", ROOT), *([("@before", before)] if before else [])]:
            found[name + suffix] = crmbot(db, workers, pin, root)
    found["crmbot-sqlite-whatsapp"] = crmbot("sqlite", 1, True, ROOT, whatsapp=True)
    return found


async def run_one(name: str, start: Starter, seconds: float, chats: int,
                  memory: bool, rates: tuple[float, ...] = ()) -> Result:
    api = FakeBotApi()
    runner = web.AppRunner(api.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    procs, bases = start(api_url)
    result = Result(name)
    try:
        for base in dict.fromkeys(bases):
            await _wait_http(f"{base}/healthz")
            await _wait_listeners(base, bases.count(base))
        whatsapp = name.endswith("-whatsapp")
        if name.startswith("crmbot") and not whatsapp:
            await asyncio.wait_for(api.webhook_set.wait(), 60)
        path = "/whatsapp/webhook" if whatsapp else "/telegram/webhook"
        driver = Driver(api, [f"{b}{path}" for b in bases], whatsapp)
        try:
            await driver.closed_loop(chats, 2.0, base=1_000_000)  # warm-up
            done, lats = await driver.closed_loop(chats, seconds, base=2_000_000)
            result.max_rate = done / seconds
            result.closed_p50_ms = _pct(lats, 0.5)
            result.half_rate = result.max_rate / 2
            count = max(50, int(result.half_rate * seconds))
            lats, lost = await driver.open_loop(result.half_rate, count, 3_000_000, 2000)
            result.p50_ms, result.p99_ms, result.lost = _pct(lats, 0.5), _pct(lats, 0.99), lost
            for k, rate in enumerate(rates):  # the same rates for every bot: comparable
                lats, lost = await driver.open_loop(
                    rate, max(50, int(rate * seconds)), 4_000_000 + 100_000 * k, 2000)
                result.fixed.append((rate, _pct(lats, 0.5), _pct(lats, 0.99), lost))
            if memory:
                result.rss_mb_per_10k = await _memory(driver, procs, result.max_rate)
        finally:
            await driver.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        await runner.cleanup()
    return result


async def _memory(driver: Driver, procs: list[subprocess.Popen[bytes]], max_rate: float) -> float:
    pids = [p.pid for p in procs]
    before = _rss_mb(pids)
    await driver.open_loop(max(50.0, 0.7 * max_rate), 10_000, 5_000_000, 10_000)
    return _rss_mb(pids) - before


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chats", type=int, default=64)
    parser.add_argument("--pg-url", default=os.environ.get("CRMBOT_BENCH_PG_URL"),
                        help="PostgreSQL URL whose database is DROPPED and re-created per run")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--memory", action="store_true", help="also measure RSS per 10k chats")
    parser.add_argument("--json", type=Path, help="write results here too")
    parser.add_argument("--rates", type=float, nargs="*", default=[],
                        help="also measure latency open-loop at these rates (msg/s, new chats)")
    parser.add_argument("--before", type=Path,
                        help="another checkout of crmbot to run side by side (rows '@before')")
    args = parser.parse_args()
    if _pin(0):
        os.sched_setaffinity(0, {0})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, start in starters(Path(tmp), args.pg_url, args.before).items():
            if args.only and name not in args.only and name.split("@")[0] not in args.only:
                continue
            print(f"running {name} …", file=sys.stderr, flush=True)
            try:
                results.append(await run_one(name, start, args.seconds, args.chats,
                                             args.memory and name == "crmbot-sqlite",
                                             tuple(args.rates)))
            except Exception as exc:  # one bot failing must not lose the others' figures
                print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                results.append(Result(name, notes=[f"failed: {exc}"]))
    _print(results)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))


def _print(results: list[Result]) -> None:
    ref = next((r.max_rate for r in results if r.name == "echo-aiohttp"), None)
    print("| bot | max msg/s (closed loop) | vs echo-aiohttp | p50 at max | rate for latency "
          "| p50 ms | p99 ms | lost | RSS MB per 10k chats |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r.max_rate / ref:.2f}x" if ref else "–"
        rss = f"{r.rss_mb_per_10k:.1f}" if r.rss_mb_per_10k is not None else "–"
        print(f"| {r.name} | {r.max_rate:.0f} | {ratio} | {r.closed_p50_ms:.1f} ms "
              f"| {r.half_rate:.0f}/s | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.lost} | {rss} |")
    print(f"\nmedian of closed-loop rates: {statistics.median([r.max_rate for r in results]):.0f}")
    if any(r.fixed for r in results):
        print("\n| bot | rate | p50 ms | p99 ms | lost |\n|---|---|---|---|---|")
        for r in results:
            for rate, p50, p99, lost in r.fixed:
                print(f"| {r.name} | {rate:.0f}/s | {p50:.1f} | {p99:.1f} | {lost} |")


if __name__ == "__main__":
    asyncio.run(main())
