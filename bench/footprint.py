"""Start-up time of the CLI and memory of the server, as a new user meets them (issue 32).

    .venv/bin/python bench/footprint.py [--runs 5] [--messages 30] [--json]
        [--entries 10000 --data ../shared/bench/faq] [--server-only | --chat-only]

CLI: each command is a fresh process on a fresh SQLite database holding the sample KB (one
untimed run first creates it and its matcher cache, as the first start of a real install does).
Reported: median wall time of ``crmbot --help``, ``kb list``, ``kb lint``, the time until
``crmbot chat`` shows its prompt (through a pseudo-terminal, as a user sees it) and until it has
printed the answer to one question.

Server: ``crmbot run`` with the sample KB (or, with ``--entries N --data FAQ_DIR``, a KB of N
English entries of three wordings each made from BANKING77 train texts) and every channel that
can run here switched on
(Telegram polling against a fake Bot API, Slack against a fake Web API, WhatsApp, Messenger,
e-mail intake, the web widget); after start-up and after ``--messages`` widget conversations
in en/sv/lv plus Telegram messages, the process's VmRSS and peak VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.helpers import free_port  # noqa: E402

CRMBOT = str(ROOT / ".venv" / "bin" / "crmbot")
QUESTIONS = {
    "en": ["where is my order?", "how much is shipping?", "can I return a jacket?"],
    "sv": ["var är min beställning?", "vad kostar frakten?", "kan jag returnera en jacka?"],
    "lv": ["kur ir mans pasūtījums?", "cik maksā piegāde?", "vai varu atgriezt jaku?"],
}


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBOT_")}
    env.update(CRMBOT_DATABASE_URL=f"sqlite+aiosqlite:///{data}/crmbot.db",
               CRMBOT_CACHE_DIR=str(data / "cache"))
    env.update(extra)
    return env


def _timed(args: list[str], env: dict[str, str], stdin: str = "") -> float:
    started = time.perf_counter()
    subprocess.run([CRMBOT, *args], env=env, input=stdin.encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _until_prompt(env: dict[str, str]) -> float:
    """Seconds until ``crmbot chat`` on a terminal has printed its ``you>`` prompt."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: become crmbot chat on the pseudo-terminal
        os.execve(CRMBOT, [CRMBOT, "chat"], env)
    seen = b""
    try:
        while b"you> " not in seen:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                raise TimeoutError(f"no prompt after 30 s: {seen[-200:]!r}")
            seen += os.read(fd, 4096)
        return time.perf_counter() - started
    finally:
        os.write(fd, b"\x04")  # Ctrl-D: end of input, the chat exits
        os.waitpid(pid, 0)
        os.close(fd)


def cli(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp))
        _timed(["chat"], env, "hello\n")  # first start: schema, seed, matcher cache
        timings: dict[str, list[float]] = {}
        for _ in range(runs):
            for name, args, stdin in (
                ("--help", ["--help"], ""), ("kb list", ["kb", "list"], ""),
                ("kb lint", ["kb", "lint"], ""),
                ("chat, first answer", ["chat"], "where is my order?\n"),
            ):
                timings.setdefault(name, []).append(_timed(args, env, stdin))
            timings.setdefault("chat, prompt", []).append(_until_prompt(env))
        return {name: statistics.median(values) for name, values in timings.items()}


def _rss(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}


async def _widget_conversation(http: aiohttp.ClientSession, url: str, locale: str) -> None:
    async with http.ws_connect(f"{url}/chat/ws", params={"locale": locale}) as ws:
        answers = 0
        for number, text in enumerate(QUESTIONS[locale]):
            await ws.send_json({"type": "message", "id": f"m{number}", "text": text})
        deadline = time.monotonic() + 30
        while answers < len(QUESTIONS[locale]) and time.monotonic() < deadline:
            frame = await ws.receive_json(timeout=30)
            answers += frame.get("type") == "message" and frame.get("sender") == "bot"


async def _wait_up(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(3000):
        try:
            async with http.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("crmbot run did not come up in 300 s")


def big_kb(data: Path, entries: int, target: Path) -> Path:
    """``entries`` entries of three wordings from BANKING77 train (words dropped beyond it)."""
    import csv
    import random

    rows = list(csv.reader((data / "raw/banking77/train.csv").open(encoding="utf-8")))[1:]
    rng = random.Random(7)
    with target.open("w", encoding="utf-8") as out:
        for k in range(entries):
            texts = []
            for i in range(3 * k, 3 * k + 3):
                words = rows[i % len(rows)][0].split()
                if i >= len(rows):
                    words = [w for w in words if rng.random() > 0.2] or words
                texts.append(" ".join(words))
            out.write(json.dumps({"id": f"e{k}", "locale": "en", "question": texts[0],
                                  "phrasings": texts[1:], "answer": f"Answer {k}."}) + "\n")
    return target


async def server(messages: int, kb: Path | None = None) -> dict[str, Any]:
    """Memory of a first start (schema, seed, matcher built) and of a restart on the same data
    (matcher and lemma tries loaded from CRMBOT_CACHE_DIR)."""
    telegram, slack = FakeTelegram(), FakeSlack(token="xoxb-bench")
    await telegram.start()
    slack_url = await slack.start()
    result: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = _env(
                Path(tmp), CRMBOT_HTTP_PORT=str(free_port()),
                CRMBOT_TELEGRAM_TOKEN=telegram.token, CRMBOT_TELEGRAM_API_URL=telegram.url,
                CRMBOT_SLACK_BOT_TOKEN="xoxb-bench", CRMBOT_SLACK_SIGNING_SECRET="s" * 32,
                CRMBOT_SLACK_API_URL=slack_url, CRMBOT_SLACK_SUPPORT_CHANNEL="C0SUPPORT",
                CRMBOT_WHATSAPP_TOKEN="wa-bench-token", CRMBOT_WHATSAPP_PHONE_NUMBER_ID="1234",
                CRMBOT_WHATSAPP_APP_SECRET="a" * 32, CRMBOT_WHATSAPP_VERIFY_TOKEN="v" * 16,
                CRMBOT_MESSENGER_PAGE_TOKEN="fb-bench-token",
                CRMBOT_MESSENGER_APP_SECRET="b" * 32, CRMBOT_MESSENGER_VERIFY_TOKEN="w" * 16,
                CRMBOT_EMAIL_FROM="support@shop.example", CRMBOT_EMAIL_INBOUND_TOKEN="e" * 16,
                CRMBOT_SMTP_HOST="127.0.0.1", CRMBOT_SMTP_PORT=str(free_port()),
                CRMBOT_SMTP_SECURITY="none", CRMBOT_SMTP_LISTEN_PORT=str(free_port()),
            )
            if kb is not None:
                env["CRMBOT_KB_SEED"] = str(kb)
            for run in ("first start", "restart"):
                for key, value in (await _serve(env, Path(tmp), messages, telegram)).items():
                    result[f"{run}: {key}"] = value
    finally:
        await telegram.close()
        await slack.close()
    return result | {"conversations": messages, "telegram replies": len(telegram.sent())}


async def _serve(
    env: dict[str, str], tmp: Path, messages: int, telegram: FakeTelegram
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{env['CRMBOT_HTTP_PORT']}"
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [CRMBOT, "run"], env=env, stdout=subprocess.DEVNULL,
        stderr=open(tmp / "run.log", "ab"),  # noqa: SIM115
    )
    try:
        async with aiohttp.ClientSession() as http:
            started = time.perf_counter()
            await _wait_up(http, url)
            up = time.perf_counter() - started
            await asyncio.sleep(2)
            idle = _rss(process.pid)
            for number in range(messages):
                locale = ("en", "sv", "lv")[number % 3]
                await _widget_conversation(http, url, locale)
                telegram.push_message(1000 + number, QUESTIONS[locale][0],
                                      language_code=locale)
            await asyncio.sleep(3)
            after = _rss(process.pid)
    finally:
        process.terminate()
        process.wait(10)
    if process.returncode not in (0, -15):
        raise RuntimeError((tmp / "run.log").read_text()[-2000:])
    return {"up s": round(up, 1), "idle MB": idle["VmRSS"], "after messages MB": after["VmRSS"],
            "peak MB": after["VmHWM"]}


def big_chat(data: Path, entries: int) -> dict[str, float]:
    """A KB of ``entries`` (three wordings each) imported, then two ``crmbot chat`` calls with
    one question: the first builds and stores the matcher, the second loads it. Wall seconds
    and peak RSS (MB) of each process, from /usr/bin/time."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp), CRMBOT_KB_SEED="")
        kb = big_kb(data, entries, Path(tmp) / "kb.jsonl")
        for name, args, stdin in (("kb import", ["kb", "import", str(kb)], ""),
                                  ("chat, first (builds)", ["chat"], "where is my card?\n"),
                                  ("chat, second (loads)", ["chat"], "where is my card?\n")):
            proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", CRMBOT, *args], env=env,
                                  input=stdin.encode(), capture_output=True, check=True)
            seconds, kilobytes = proc.stderr.decode().strip().splitlines()[-1].split()
            out[f"{name} s"], out[f"{name} MB"] = float(seconds), int(kilobytes) // 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--entries", type=int, help="serve a KB of this many entries")
    parser.add_argument("--data", type=Path, help="the FAQ benchmark data (for --entries)")
    parser.add_argument("--server-only", action="store_true")
    parser.add_argument("--chat-only", action="store_true",
                        help="only import --entries and time two crmbot chat calls")
    args = parser.parse_args()
    if args.chat_only:
        print(json.dumps(big_chat(args.data, args.entries)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        kb = big_kb(args.data, args.entries, Path(tmp) / "kb.jsonl") if args.entries else None
        result = {"cli s": {} if args.server_only else cli(args.runs),
                  "server": asyncio.run(server(args.messages, kb)), "load": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result))
        return
    for name, seconds in result["cli s"].items():
        print(f"{name:22} {seconds:6.2f} s")
    for name, value in result["server"].items():
        print(f"server {name:30} {value}")


if __name__ == "__main__":
    main()
