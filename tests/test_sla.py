"""SLA targets in business hours (bot/sla.py) and the desk's alerts (bot/channels/slack/sla.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot import sla
from bot.channels.slack.sla import SlaWatch
from bot.core import Core
from bot.hours import hours_for
from storage.models import Customer, OutboxItem, Ticket, TicketSlaEvent
from storage.models_slack import SlackThread

TEAM = hours_for(None).team("default")  # Europe/Stockholm, Mon-Thu 9-17, Fri 9-16
SUPPORT = "C0SUPPORT"
POLICY = sla.Policy(sla.parse_targets("urgent:30,normal:240", "x"),
                    sla.parse_targets("urgent:120,normal:1440", "y"), 0.8)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in March 2026 in Stockholm: the 23rd is a Monday, the 27th a Friday; summer time
    starts on Sunday the 29th (a Friday-to-Monday clock crosses it)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=TEAM.tz).astimezone(UTC)


def test_the_clock_runs_only_in_business_hours() -> None:
    friday = local(27, 15, 50)
    assert sla.add_business_time(friday, 60 * 60, TEAM) == local(30, 9, 50)  # Monday
    assert sla.add_business_time(local(28, 12), 60, TEAM) == local(30, 9, 1)  # from Saturday
    assert sla.add_business_time(local(23, 9), 8 * 3600, TEAM) == local(23, 17)


def test_targets_parse_with_clear_errors() -> None:
    assert sla.parse_targets(" urgent:30 , low:600", "S") == {"urgent": 30, "low": 600}
    for bad in ("urgent", "urgent:0", "critical:30", "urgent:-5", "urgent:x"):
        with pytest.raises(ValueError, match=r"S: .* is not priority:minutes"):
            sla.parse_targets(bad, "S")


@pytest.mark.parametrize(("now", "answered", "kinds"), [
    (local(23, 9, 20), None, []),
    (local(23, 9, 25), None, ["first_response_warning"]),
    (local(23, 9, 31), None, ["first_response_warning", "first_response_breach"]),
    (local(23, 11, 0), local(23, 9, 10), ["resolution_warning", "resolution_breach"]),
    (local(27, 15, 0), local(23, 9, 10), ["resolution_warning", "resolution_breach"]),
])
def test_warnings_and_breaches_reached(now: datetime, answered: datetime | None,
                                       kinds: list[str]) -> None:
    found = sla.reached(created_at=local(23, 9), priority="urgent", first_response_at=answered,
                        open_=True, policy=POLICY, team=TEAM, now=now)
    assert [d.kind for d in found] == kinds


def test_an_unknown_priority_uses_normal_and_a_closed_ticket_nothing() -> None:
    found = sla.reached(created_at=local(23, 9), priority="weird", first_response_at=None,
                        open_=True, policy=POLICY, team=TEAM, now=local(23, 13, 1))
    assert [d.kind for d in found] == ["first_response_warning", "first_response_breach"]
    assert sla.reached(created_at=local(23, 9), priority="urgent", first_response_at=None,
                       open_=False, policy=POLICY, team=TEAM, now=local(27, 15)) == []


async def _ticket(core: Core, priority: str, **values: object) -> int:
    async with core.sessions.begin() as session:
        customer = Customer(display_name="Anna", attributes={})
        session.add(customer)
        await session.flush()
        fields: dict[str, object] = {
            "status": "open", "priority": priority, "subject": "", "reason": "customer_request",
            "created_at": local(23, 9)}
        ticket = Ticket(customer_id=customer.id, channel="test", **{**fields, **values})
        session.add(ticket)
        await session.flush()
        session.add(SlackThread(ticket_id=ticket.id, channel=SUPPORT,
                                thread_ts=f"1.{customer.id:06d}"))
        return ticket.id


async def test_the_watch_alerts_each_event_once_in_the_thread_and_breaches_in_the_channel(
        core: Core) -> None:
    settings = core.settings.model_copy(update={
        "slack_oncall_group": "S0ONCALL", "slack_support_channel": SUPPORT,
        "sla_first_response_minutes": "urgent:30,normal:240",
        "sla_resolution_minutes": "urgent:120,normal:1440"})
    urgent = await _ticket(core, "urgent")
    claimed = await _ticket(core, "urgent", status="claimed", assignee="U1")  # never answered
    answered = await _ticket(core, "urgent", first_response_at=local(23, 9, 5))
    normal = await _ticket(core, "normal")
    watch = SlaWatch(core.sessions, settings, core.services.translator, lambda: None)
    await watch.check_once(now=local(23, 9, 40))
    await watch.check_once(now=local(23, 9, 45))  # nothing new
    async with core.sessions() as session:
        events = {(e.ticket_id, e.kind) for e in (await session.scalars(
            select(TicketSlaEvent))).all()}
        items = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
    assert events == {(urgent, "first_response_warning"), (urgent, "first_response_breach"),
                      (claimed, "first_response_warning"), (claimed, "first_response_breach")}
    assert answered not in {t for t, _ in events} and normal not in {t for t, _ in events}
    breaches = [i.payload for i in items if "missed its first-response" in i.payload["text"]]
    assert len(breaches) == 4, "each breach in its thread and in the support channel"
    assert {b["meta"]["slack_op"] for b in breaches} == {"thread", "post"}
    assert all(b["text"].startswith("<!subteam^S0ONCALL> 🚨 Ticket #") for b in breaches)
    warnings = [i.payload for i in items if "almost up" in i.payload["text"]]
    assert [w["meta"]["slack_op"] for w in warnings] == ["thread", "thread"]

    await watch.check_once(now=local(23, 10, 50))  # 110 of 120 minutes: resolution warning
    async with core.sessions() as session:
        kinds = (await session.scalars(select(TicketSlaEvent.kind).where(
            TicketSlaEvent.ticket_id == answered))).all()
    assert list(kinds) == ["resolution_warning"]


async def test_the_report_counts_breaches_in_its_period(core: Core) -> None:
    from handlers.reports.metrics import Options, build_report
    from handlers.reports.period import local_days

    settings = core.settings.model_copy(update={"sla_first_response_minutes": "urgent:30"})
    await _ticket(core, "urgent")
    await _ticket(core, "urgent", first_response_at=local(23, 9, 5))
    watch = SlaWatch(core.sessions, settings, core.services.translator, lambda: None)
    await watch.check_once(now=local(23, 9, 40))
    day = local(23, 12).astimezone(TEAM.tz).date()
    async with core.sessions() as session:
        report = await build_report(session, local_days(day, day, TEAM.tz), Options(team=TEAM),
                                    local(24, 12))
        before = await build_report(session, local_days(day.replace(day=22), day.replace(day=22),
                                                        TEAM.tz), Options(team=TEAM), local(24, 12))
    counts = {row["sla_event"]: row["tickets"] for row in report.table("sla").as_dicts()}
    assert counts == {"first_response_breach": 1, "resolution_breach": 0,
                      "first_response_warning": 1, "resolution_warning": 0}
    assert all(row["tickets"] == 0 for row in before.table("sla").as_dicts())
