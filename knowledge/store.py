"""Built matchers kept on disk, so a process does not build what another already built.

A matcher is a pure function of the entries, the settings that shape it and the matcher's own
code. Building it costs ~1.5 s for the 42-entry sample KB (most of it the per-KB threshold fit,
which builds the matcher again for every held-out fold) and ~25 s for 100,000 wordings; every
server process, every ``crmbot chat`` and every worker used to pay that at start. Here the
built matcher is pickled under a key made of all of its inputs (a SHA-256 of the entries, the
settings, and the source of the ``knowledge`` package and its data files), so:

* any process with the same KB content loads it in milliseconds, whatever its database's
  revision numbers (two databases with equal entries share the file);
* an edit, a changed setting or an upgrade of crmbot changes the key: the next build writes a
  new file; the oldest files beyond :data:`KEEP` are removed;
* a damaged or unreadable file is rebuilt, never trusted (the error is logged).

Pickle runs code from the file it loads, so the directory must be writable only by crmbot's
own user (files are created 0600 in a directory created 0700); docs/operations.md says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from knowledge import e5, lemmatizer
from knowledge.entries import KBEntry
from knowledge.matcher import FUSED_KINDS, Matcher, build_matcher

log = logging.getLogger("crmbot.matcher")

#: Files kept in the directory: the current KB and a few before it (a rollback loads at once).
KEEP = 4
#: Bumped when what a pickled matcher means changes in a way the source hash could miss.
FORMAT = 1
#: The child builds' embeddings of KB texts, so an edit embeds only what changed.
EMBEDDINGS = "e5-embeddings.npz"
_PACKAGE = Path(__file__).resolve().parent


Build = tuple[Sequence[KBEntry], str, float | None, str, float]


def load_or_build(
    entries: Sequence[KBEntry],
    default_locale: str,
    threshold: float | None,
    kind: str,
    wrong_cost: float,
    directory: Path | None,
    *,
    isolated: bool = False,
) -> Matcher:
    """The matcher for these inputs: from ``directory`` if built before, else built and stored.

    ``directory`` None, or the semantic kind (its model is not ours to pickle), always builds.
    ``isolated``: a build happens in a child process, which stores it, and this process loads
    the file, so the build's peak (the calibration's folds, and for the fused tiers the
    encoder and its work: +40 MB on the sample KB) never lands in a long-lived server; the
    encoder is then loaded only when a question needs it. If the child fails, the build
    happens here after all.
    """
    build = (entries, default_locale, threshold, kind, wrong_cost)
    if directory is None or kind == "semantic":
        return build_matcher(*build)
    path = _path(directory, build)
    loaded = _load(path)
    if loaded is not None:
        return loaded
    if isolated and _build_in_child(build, path) and (loaded := _load(path)) is not None:
        return loaded
    matcher = build_matcher(*build)
    _store(path, matcher)
    release_memory()
    return matcher


def is_stored(build: Build, directory: Path | None) -> bool:
    """Whether :func:`load_or_build` would find the matcher of ``build`` (its arguments:
    entries, default locale, threshold, kind, wrong-answer cost) in ``directory``."""
    return directory is not None and _path(directory, build).is_file()


def _path(directory: Path, build: Build) -> Path:
    return directory / f"matcher-{cache_key(*build)}.pickle"


def _build_in_child(build: Build, path: Path) -> bool:
    """Build and store in a fresh interpreter, ``python -m knowledge.store JOB``: no copy of
    this process's heap, and unlike multiprocessing's spawn it never runs this process's main
    script again (a server started from a script without a ``__main__`` guard would start
    twice). The job (the build's inputs) is a pickle beside the matchers, in the same private
    directory."""
    started = time.perf_counter()
    job: Path | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".job", delete=False) as handle:
            job = Path(handle.name)
            pickle.dump((build, path, lemmatizer.tries_cache()), handle,
                        protocol=pickle.HIGHEST_PROTOCOL)
        returncode = _run_child(_child_command(job))
    except OSError:
        log.exception("could not start a child process to build the matcher; building here")
        return False
    finally:
        if job is not None:
            job.unlink(missing_ok=True)
    if returncode != 0:
        log.warning("matcher build in a child process failed (exit %s); building here",
                    returncode)
        return False
    log.info("matcher built in a child process in %.1f s", time.perf_counter() - started)
    return True


class BuildStopped(Exception):
    """A child build was stopped by :func:`stop_children` (the process is shutting down)."""


_running: dict[int, subprocess.Popen[bytes]] = {}
_stopped: set[int] = set()
_running_lock = threading.Lock()


def _child_command(job: Path) -> list[str]:
    return [sys.executable, "-m", "knowledge.store", str(job)]


def _run_child(command: list[str]) -> int:
    """Run a child build to its end; :class:`BuildStopped` if :func:`stop_children` ended it."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    with _running_lock:
        _running[process.pid] = process
    try:
        returncode = process.wait()
    finally:
        with _running_lock:
            _running.pop(process.pid, None)
            stopped = process.pid in _stopped
            _stopped.discard(process.pid)
    if stopped:
        raise BuildStopped(f"matcher build (pid {process.pid}) stopped")
    return returncode


def stop_children() -> None:
    """Terminate the running child builds. At shutdown: a first build of a large KB embeds for
    minutes, and the process would otherwise wait for the worker thread that waits for it."""
    with _running_lock:
        for pid, process in _running.items():
            _stopped.add(pid)
            with contextlib.suppress(ProcessLookupError):
                process.terminate()


def _child(job: Path) -> None:
    """The child's work: the same lemma dictionaries as the parent, build, store."""
    with job.open("rb") as handle:
        build, path, tries = pickle.load(handle)  # written by our parent, 0700 directory
    logging.basicConfig(level=logging.WARNING)
    lemmatizer.use_tries(tries)
    embeddings = path.parent / EMBEDDINGS
    fused = build[3] in FUSED_KINDS
    if fused:
        e5.load_cache(embeddings)
    _store(path, build_matcher(*build))
    if fused:
        e5.save_cache(embeddings)



def release_memory() -> None:
    """Give the heap pages a build freed back to the operating system (glibc only).

    A build (the per-KB calibration builds the matcher several times) frees tens of MB of
    small objects, and glibc's malloc keeps freed pages: the process stayed larger after a
    first start than after a restart that loads the same matcher (bench/footprint.py).
    Elsewhere this does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def cache_key(
    entries: Sequence[KBEntry],
    default_locale: str,
    threshold: float | None,
    kind: str,
    wrong_cost: float,
) -> str:
    """SHA-256 (hex, 32 chars) of everything the built matcher depends on."""
    digest = hashlib.sha256()
    digest.update(code_fingerprint().encode())
    settings = [FORMAT, default_locale, threshold, kind, wrong_cost]
    digest.update(json.dumps(settings).encode())
    for entry in entries:
        digest.update(entry.model_dump_json().encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the knowledge package's source and data files (names, sizes, contents)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".npz", ".json", ".txt"}:
            digest.update(str(path.relative_to(_PACKAGE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _load(path: Path) -> Matcher | None:
    try:
        with path.open("rb") as handle:
            matcher: Matcher = pickle.load(handle)  # our own 0600 file, see above
    except FileNotFoundError:
        return None
    except Exception:  # a damaged file is rebuilt, whatever went wrong in it
        log.exception("matcher cache %s is unreadable; building again", path)
        return None
    log.info("matcher loaded from %s", path)
    return matcher


def _store(path: Path, matcher: Matcher) -> None:
    """Write atomically (a reader never sees half a file); a failure only costs the cache."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            pickle.dump(matcher, tmp, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp.name, path)
        _prune(path.parent, KEEP)
    except OSError:
        log.exception("could not store the matcher in %s", path.parent)


def _prune(directory: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recently written matcher files (and stray temp files).

    A temporary file (a matcher, the embeddings, a child's job) older than an hour is what a
    process killed while writing left behind.
    """
    dated = [(m, p) for p in directory.glob("matcher-*.pickle") if (m := _mtime(p)) is not None]
    files = [p for _, p in sorted(dated)]
    stale = [p for pattern in ("*.tmp", "*.tmp.npz", "*.job") for p in directory.glob(pattern)
             if time.time() - (_mtime(p) or time.time()) > 3600]
    for old in [*files[:-keep], *stale]:
        old.unlink(missing_ok=True)


def _mtime(path: Path) -> float | None:
    """When ``path`` was written; None if another process of the deployment (they share the
    directory) removed it since it was listed."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
