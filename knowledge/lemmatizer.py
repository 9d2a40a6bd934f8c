"""The simplemma dictionaries behind every lemma, and where they are kept.

simplemma's default keeps each language's dictionary as a Python dict: ~140 MB and ~1 s to load
for English, Swedish and Latvian, in every process (it was a quarter of the server's memory).
Two of its own back-ends give the same lemmas for less (bench/footprint.py, issue 32):

* ``low_memory`` reads the shipped compressed stream directly: 17 MB, but ~1.3 s to index the
  three languages in each process. The default here, as it needs no disk.
* MARISA tries (the ``marisa-trie`` extra) saved to a directory: ~7 MB and milliseconds to load
  once built (2 s and a 70 MB peak, once per simplemma version). The server and the CLI switch
  to them with :func:`use_tries` on ``CRMBOT_CACHE_DIR``.

A trie is built by a child process in a private temporary directory and moved into place with
an atomic rename, so processes that start together (``crmbot run --workers 4``) never read half
a file (simplemma itself would write it in place), and the build's memory leaves with the child.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import simplemma
from simplemma import Lemmatizer
from simplemma.language_detector import LanguageDetector
from simplemma.strategies import DefaultStrategy

log = logging.getLogger("crmbot.matcher")

#: The languages whose dictionaries crmbot reads (the shipped locales).
LANGUAGES = ("en", "sv", "lv")

_lock = threading.Lock()
_strategy = DefaultStrategy(low_memory=True)
_lemmatizer = Lemmatizer(lemmatization_strategy=_strategy)
_tries_in: Path | None = None


def lemmatize(token: str, lang: str) -> str:
    """simplemma's lemma of ``token`` in ``lang`` (one of :data:`LANGUAGES`)."""
    return str(_lemmatizer.lemmatize(token, lang))


def known_share(text: str, lang: str) -> float:
    """Share of the text's common words simplemma knows in ``lang`` (language second opinion)."""
    return float(LanguageDetector(lang, lemmatization_strategy=_strategy)
                 .proportion_in_target_languages(text))


def tries_cache() -> Path | None:
    """The directory given to :func:`use_tries` that this process's tries come from (None:
    the compressed streams serve), so a child process can use the same ones."""
    return _tries_in.parent if _tries_in is not None else None


def use_tries(directory: Path | None) -> bool:
    """Back the lemmas with tries in ``directory`` (built there first if missing).

    Returns False, with a log line, when the tries cannot be had (no ``marisa-trie``, a
    read-only directory): the compressed streams keep serving, only slower to load. None
    (CRMBOT_CACHE_DIR empty) keeps the streams.
    """
    global _strategy, _lemmatizer, _tries_in
    if directory is None:
        return False
    try:
        from simplemma.strategies.dictionaries.trie_dictionary_factory import (
            TrieDictionaryFactory,
        )

        target = directory / f"simplemma-{simplemma.__version__}"
        with _lock:
            if _tries_in == target:  # every core of the process asks; one switch is enough
                return True
            for lang in LANGUAGES:
                if not (target / f"{lang}.dic").exists():
                    _build_trie(target, lang)
            factory = TrieDictionaryFactory(disk_cache_dir=str(target))
            strategy = DefaultStrategy(dictionary_factory=factory)
            _strategy, _lemmatizer = strategy, Lemmatizer(lemmatization_strategy=strategy)
            _tries_in = target
    except (ImportError, OSError, subprocess.SubprocessError) as exc:
        log.warning("lemma dictionaries stay compressed streams (%s)", exc)
        return False
    return True


def _build_trie(target: Path, lang: str) -> None:
    """Build one trie in a child process and move it into ``target``.

    simplemma builds a trie from the whole Python dict of the language (~140 MB of small
    objects for sv): in a child process that memory leaves with it, where the server would
    otherwise keep most of it (freed small objects are rarely returned to the OS).
    """
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        subprocess.run([sys.executable, "-c", _CHILD, tmp, lang], check=True, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        (Path(tmp) / f"{lang}.dic").replace(target / f"{lang}.dic")
    log.info("built the %s lemma trie in %s", lang, target)


_CHILD = (
    "import sys\n"
    "from simplemma.strategies.dictionaries.trie_dictionary_factory import "
    "TrieDictionaryFactory\n"
    "TrieDictionaryFactory(disk_cache_dir=sys.argv[1]).get_dictionary(sys.argv[2])\n"
)
