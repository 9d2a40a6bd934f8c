"""`python bot.py ARGS` is the same as `crmbot ARGS`."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
