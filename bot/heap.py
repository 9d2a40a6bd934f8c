"""Keep the garbage collector's full passes off the server's long-lived objects.

A full (generation 2) collection walks every object the collector tracks, and the event loop
(every conversation) waits meanwhile. In a server with a 3,000-entry KB these passes took
45-85 ms each (measured with ``gc.callbacks``; one held /healthz 90 ms during a KB export),
more with larger KBs. Almost all of those objects (modules, the matcher, the language models)
live as long as the process or the KB revision, so once they are in place :func:`settle`
moves them to the permanent generation (``gc.freeze``) and later full passes walk only what
came after them (~3 ms).

A frozen object is still freed by reference counting; only a reference cycle among frozen
objects is never collected. The matchers have none (dropping a 3,000-entry default matcher
or the sample KB's fused one leaves no cyclic garbage; tests/test_heap.py checks that a
replaced matcher is freed), so a KB swap freezes the new matcher without thawing the rest:
unfreezing would make every swap a full pass over the whole heap (75-225 ms).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("crmbot.heap")

_serving = False
_loaded: set[str] = set()


def serving() -> None:
    """This process is a server (``crmbot run``): settle from now on. A test process or
    ``crmbot chat`` has no event loop to keep free."""
    global _serving
    _serving = True


def swapped() -> None:
    """A new KB matcher is live."""
    if _serving:
        settle()


def loaded(name: str) -> None:
    """``name``'s libraries were loaded on first use (a report draws with matplotlib and
    clusters with scikit-learn: ~10^5 new objects whose walk made each full pass 30-45 ms
    again): settle once per process."""
    if _serving and name not in _loaded:
        _loaded.add(name)
        settle()


def settle() -> None:
    """Collect the garbage among the objects not frozen yet, then freeze the survivors."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.debug("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(),
              (time.perf_counter() - started) * 1000)
