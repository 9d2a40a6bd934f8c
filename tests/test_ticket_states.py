"""The ticket status machine (storage/ticket_states.py): what each action allows and sets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage import ticket_states as states
from storage.models import Ticket

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)


def ticket(status: str = states.OPEN, assignee: str | None = None) -> Ticket:
    return Ticket(conversation_id=1, customer_id=1, status=status, assignee=assignee,
                  priority="normal", reason="customer_request")


def test_claim_sets_the_assignee_and_the_time() -> None:
    t = ticket()
    states.move(t, "claim", NOW, "U1")
    assert (t.status, t.assignee, t.claimed_at) == (states.CLAIMED, "U1", NOW)


def test_a_transfer_keeps_the_first_claim_time() -> None:
    t = ticket()
    states.move(t, "claim", NOW, "U1")
    states.move(t, "assign", LATER, "U2")
    assert (t.status, t.assignee, t.claimed_at) == (states.CLAIMED, "U2", NOW)


def test_resolve_credits_the_resolver_only_when_nobody_had_it() -> None:
    unclaimed, claimed = ticket(), ticket(states.CLAIMED, "U1")
    states.move(unclaimed, "resolve", NOW, "U9")
    states.move(claimed, "resolve", NOW, "U9")
    assert (unclaimed.status, unclaimed.assignee, unclaimed.resolved_at) == ("resolved", "U9", NOW)
    assert claimed.assignee == "U1"


@pytest.mark.parametrize(("assignee", "after"), [("U1", states.CLAIMED), (None, states.OPEN)])
def test_reopen_goes_back_to_whoever_had_it(assignee: str | None, after: str) -> None:
    t = ticket(states.RESOLVED, assignee)
    t.resolved_at = NOW
    states.move(t, "reopen", LATER)
    assert (t.status, t.assignee, t.resolved_at) == (after, assignee, None)


@pytest.mark.parametrize(("status", "action"), [
    (states.CLAIMED, "claim"), (states.RESOLVED, "claim"), (states.RESOLVED, "assign"),
    (states.RESOLVED, "resolve"), (states.OPEN, "reopen"), (states.CLAIMED, "reopen"),
])
def test_a_move_the_table_does_not_allow_is_refused_and_changes_nothing(
        status: str, action: str) -> None:
    t = ticket(status, "U1")
    with pytest.raises(states.TransitionError, match=f"cannot {action}"):
        states.move(t, action, NOW, "U2")
    assert (t.status, t.assignee) == (status, "U1")
