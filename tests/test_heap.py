"""bot/heap.py: long-lived objects leave the collector's full passes, garbage cycles do not."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot import heap
from bot.kb import KnowledgeService
from knowledge.entries import KBEntry


class Node:
    """A reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leave the test process's collector (and bot.heap) as they were found."""
    monkeypatch.setattr(heap, "_serving", False)
    monkeypatch.setattr(heap, "_loaded", set())
    yield
    gc.unfreeze()


def test_settle_collects_what_died_and_freezes_what_lives() -> None:
    dead, alive = Node(), Node()
    gone = weakref.ref(dead)
    del dead
    heap.settle()
    assert gone() is None, "garbage cycles are collected before the freeze"
    assert gc.get_freeze_count() > 0
    kept = weakref.ref(alive)
    del alive
    gc.collect()
    assert kept() is not None, "a frozen cycle is out of the collector's reach (the trade-off)"


async def test_the_server_settles_after_each_kb_swap() -> None:
    entry = KBEntry(id="hours", locale="en", question="When are you open?",
                    phrasings=("opening hours",), answer="9-17.")
    kb = KnowledgeService("en")
    await kb._load([entry], 1)
    assert gc.get_freeze_count() == 0, "not settled unless the process is a server"
    heap.serving()
    await kb._load([entry.model_copy(update={"answer": "9-18."})], 2)
    assert gc.get_freeze_count() > 0
    frozen = weakref.ref(kb._matcher)
    await kb._load([entry.model_copy(update={"answer": "9-19."})], 3)
    assert frozen() is None, "the replaced matcher is freed, frozen or not: it holds no cycles"
    assert kb.match("opening hours", "en").best is not None


def test_a_library_loaded_on_first_use_is_settled_once() -> None:
    heap.loaded("charts")
    assert gc.get_freeze_count() == 0, "not settled unless the process is a server"
    heap.serving()
    heap.loaded("charts")
    frozen = gc.get_freeze_count()
    assert frozen > 0
    gc.unfreeze()
    heap.loaded("charts")
    assert gc.get_freeze_count() == 0, "once per name and process"
    heap.loaded("gaps")
    assert gc.get_freeze_count() > 0
