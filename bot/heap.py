"""Keep the garbage collector's full passes off the server's long-lived objects.

A full (generation 2) collection walks every object the collector tracks, and the event loop
(every conversation) waits meanwhile. In a server with a 3,000-entry KB these passes took
45-85 ms each (measured with ``gc.callbacks``; one held /healthz 90 ms during a KB export),
more with larger KBs. Almost all of those objects (modules, the matcher, the language models)
live as long as the process or the KB revision, so once they are in place :func:`settle`
moves them to the permanent generation (``gc.freeze``) and later full passes walk only what
came after them.

A frozen object is still freed by reference counting, but a reference cycle among frozen
objects would never be collected; so :func:`settle` unfreezes and collects first, which
frees the previous matcher's cycles after a KB change (one full pass per KB revision).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("crmbot.heap")


def settle() -> None:
    """Collect what is garbage now, then freeze everything still alive."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(),
              (time.perf_counter() - started) * 1000)
