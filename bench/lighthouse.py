"""Lighthouse scores of the help center's pages (issue 33: each category >= 95).

Runs Google's Lighthouse (npm package ``lighthouse``, on the Debian chromium) against a running
crmbot and prints one row per page. Lighthouse is not a Python dependency: install it once
with ``npm install lighthouse@12`` in any directory and pass its binary.

    crmbot run &   # CRMBOT_PUBLIC_URL should be the address you test
    python bench/lighthouse.py --lighthouse /tmp/lh/node_modules/.bin/lighthouse \\
        --base http://127.0.0.1:8080 en/ en/delivery-cost "en/search?q=shipping+cost"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def score(lighthouse: str, url: str, chromium: str) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        subprocess.run(
            [lighthouse, url, "--quiet", "--output=json", f"--output-path={out}",
             "--chrome-flags=--headless --no-sandbox --disable-gpu",
             f"--only-categories={','.join(CATEGORIES)}"],
            check=True, timeout=180, env={**os.environ, "CHROME_PATH": chromium})
        report = json.loads(out.read_text())
    return {k: round(v["score"] * 100) for k, v in report["categories"].items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lighthouse", required=True, help="path to the lighthouse binary")
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("pages", nargs="+", help="paths under /help/, e.g. en/ or en/returns")
    args = parser.parse_args()
    print("| page | " + " | ".join(CATEGORIES) + " |")
    print("|---|" + "---|" * len(CATEGORIES))
    for page in args.pages:
        found = score(args.lighthouse, f"{args.base.rstrip('/')}/help/{page}", args.chromium)
        print(f"| /help/{page} | " + " | ".join(str(found[c]) for c in CATEGORIES) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
