"""Lemma dictionaries as tries on disk (knowledge/lemmatizer.py): same lemmas, less memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import simplemma

from knowledge import lemmatizer

WORDS = {
    "en": ["orders", "shipping", "returned", "jackets", "refunds", "xyzzy"],
    "sv": ["beställningen", "frakten", "returnera", "jackan", "pengarna", "levererades"],
    "lv": ["pasūtījumu", "piegādes", "atgriezt", "jaku", "naudu", "samaksāju"],
}


@pytest.fixture
def restore() -> Iterator[None]:
    """Tests here swap the process-wide lemmatizer; put the one before back."""
    saved = lemmatizer._strategy, lemmatizer._lemmatizer, lemmatizer._tries_in
    yield
    lemmatizer._strategy, lemmatizer._lemmatizer, lemmatizer._tries_in = saved


def test_tries_give_simplemmas_own_lemmas(tmp_path: Path, restore: None) -> None:
    assert lemmatizer.use_tries(tmp_path)
    target = tmp_path / f"simplemma-{simplemma.__version__}"
    assert sorted(p.name for p in target.iterdir()) == ["en.dic", "lv.dic", "sv.dic"]
    for lang, words in WORDS.items():
        for word in words:
            assert lemmatizer.lemmatize(word, lang) == simplemma.lemmatize(word, lang), word
    assert lemmatizer.known_share("var är min beställning", "sv") == pytest.approx(
        simplemma.in_target_language("var är min beställning", lang="sv"))
    # A second process (or a restart) finds the tries and builds nothing.
    before = {p: p.stat().st_mtime_ns for p in target.iterdir()}
    lemmatizer._tries_in = None  # as in a new process
    assert lemmatizer.use_tries(tmp_path)
    assert {p: p.stat().st_mtime_ns for p in target.iterdir()} == before


def test_a_path_that_is_a_file_keeps_the_compressed_dictionaries(
    tmp_path: Path, restore: None, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    assert not lemmatizer.use_tries(blocker)
    assert "stay compressed streams" in caplog.text
    assert lemmatizer.lemmatize("pasūtījumu", "lv") == "pasūtījums"


def test_no_cache_directory_keeps_the_compressed_dictionaries(restore: None) -> None:
    before = lemmatizer._lemmatizer
    assert not lemmatizer.use_tries(None)
    assert lemmatizer._lemmatizer is before
