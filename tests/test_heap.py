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
def thawed() -> Iterator[None]:
    """Leave the test process's collector as it was found."""
    yield
    gc.unfreeze()


def test_settle_freezes_what_lives_and_frees_cycles_that_died() -> None:
    node = Node()
    alive = weakref.ref(node)
    heap.settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the collector's reach"
    heap.settle()  # what a KB swap does: unfreeze, collect, freeze again
    assert alive() is None


async def test_the_server_settles_after_each_kb_swap() -> None:
    entry = KBEntry(id="hours", locale="en", question="When are you open?",
                    phrasings=("opening hours",), answer="9-17.")
    kb = KnowledgeService("en")
    await kb._load([entry], 1)
    assert gc.get_freeze_count() == 0, "not settled unless the server asks for it"
    kb.settle_heap = True
    old = weakref.ref(kb._matcher)
    await kb._load([entry.model_copy(update={"answer": "9-18."})], 2)
    assert gc.get_freeze_count() > 0
    assert old() is None, "the replaced matcher is freed"
    assert kb.match("opening hours", "en").best is not None
