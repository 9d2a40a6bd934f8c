"""How long a running server's event loop is held while it serves one request.

    python bench/loop_stall.py PATH [PATH ...] [--base http://127.0.0.1:8080]
                               [--token ADMIN_TOKEN] [--repeat 3]

Pings ``/healthz`` every 10 ms while it requests PATH, and prints the request's own time and
how late /healthz answered at worst (and its median): a handler that computes on the event
loop shows as a late /healthz, since every conversation waits the same way. With --token
(``CRMBOT_ADMIN_TOKEN`` or an admin API token) the API is called with it and the admin pages
after signing in with it. Start the server yourself, e.g. with a large KB imported; the
figures in docs/benchmarks.md came from a 3,000-entry KB (bench/footprint.py's ``big_kb``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp


async def _sign_in(http: aiohttp.ClientSession, base: str, token: str) -> None:
    async with http.get(base + "/admin/login") as resp:
        await resp.read()
    csrf = next(c.value for c in http.cookie_jar if c.key == "crmbot_login")
    form = {"_csrf": csrf, "token": token, "next": "/admin/kb"}
    async with http.post(base + "/admin/login", data=form) as resp:
        resp.raise_for_status()


async def _measure(http: aiohttp.ClientSession, base: str, path: str) -> str:
    late: list[float] = []
    done = asyncio.Event()

    async def ping() -> None:
        while not done.is_set():
            started = time.perf_counter()
            async with http.get(base + "/healthz") as resp:
                await resp.read()
            late.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)

    pinger = asyncio.create_task(ping())
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    async with http.get(base + path) as resp:
        size, status = len(await resp.read()), resp.status
    took = (time.perf_counter() - started) * 1000
    await asyncio.sleep(0.2)
    done.set()
    await pinger
    return (f"{path} {status} {size} B {took:.0f} ms; /healthz worst {max(late):.0f} ms, "
            f"median {statistics.median(late):.1f} ms")


async def main(args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as http:
        if args.token:
            await _sign_in(http, args.base, args.token)
        for path in args.paths:
            for _ in range(args.repeat):
                print(await _measure(http, args.base, path), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default="")
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
