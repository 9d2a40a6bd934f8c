"""The issue's announcement bar, end to end: N recipients (default 10,000) through `crmbot run`
and the fake Telegram Bot API at a declared global rate, SIGKILL after a third, restart, 25
/stop messages during the run. Prints the delivery rate after the restart (as a share of the
declared rate), the 429s the fake answered, duplicates, misses and the bot's own progress.
Usage::

    .venv/bin/python bench/broadcast_e2e.py [--recipients 10000] [--rate 150] [--db URL]

Without --db it uses a fresh SQLite file; a PostgreSQL URL must name an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.broadcast_kill import run_kill_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=150)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{tmp}/bench.db"
        out = asyncio.run(run_kill_scenario(url, args.recipients, args.rate, Path(tmp)))
        print(out.summary())
        print(f"of the declared rate: {100 * out.rate_after_restart / args.rate:.1f} %")


if __name__ == "__main__":
    main()
