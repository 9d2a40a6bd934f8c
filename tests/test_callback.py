"""Phone call-back requests: parsing, and the whole flow from a customer channel to the Slack
desk and back (RecordingChannel customer, real Bolt/slack-sdk against the fake Slack)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handlers.tickets import callback
from handlers.tickets.callback_parse import normalise_phone, parse_time, region_for
from storage.models import Conversation, Ticket
from tests.slack_env import SUPPORT, SlackEnv, wait_for
from tests.slack_env import slack_env as slack_env  # the fixture

MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Stockholm, the desk is open
STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(("text", "locale", "expected"), [
    ("070-123 45 67", "sv", "+46701234567"),
    ("020 7946 0958", "en", "+442079460958"),
    ("20 123 456", "lv", "+37120123456"),
    ("+371 2012 3456", "sv", "+37120123456"),
    ("12345", "en", None),
    ("call me maybe", "en", None),
])
def test_phone_numbers_normalised_to_e164(text: str, locale: str, expected: str | None) -> None:
    assert normalise_phone(text, region_for(locale)) == expected


def test_region_setting_overrides_language() -> None:
    assert region_for("en", "se") == "SE" and region_for("lv") == "LV"


@pytest.mark.parametrize(("text", "expected"), [
    ("tomorrow 10:00", datetime(2026, 11, 24, 10, 0, tzinfo=STOCKHOLM)),
    ("imorgon kl 10", datetime(2026, 11, 24, 10, 0, tzinfo=STOCKHOLM)),
    ("rīt 10:00", datetime(2026, 11, 24, 10, 0, tzinfo=STOCKHOLM)),
    ("14:30", datetime(2026, 11, 23, 14, 30, tzinfo=STOCKHOLM)),
    ("08:15", datetime(2026, 11, 24, 8, 15, tzinfo=STOCKHOLM)),  # passed today: tomorrow
    ("2pm", datetime(2026, 11, 23, 14, 0, tzinfo=STOCKHOLM)),
])
def test_preferred_times(text: str, expected: datetime) -> None:
    parsed = parse_time(text, MONDAY_9, STOCKHOLM)
    assert parsed is not None and parsed.at == expected


@pytest.mark.parametrize("text", ["any time", "När som helst", "jebkurā laikā"])
def test_any_time(text: str) -> None:
    parsed = parse_time(text, MONDAY_9, STOCKHOLM)
    assert parsed is not None and parsed.at is None


@pytest.mark.parametrize("text", ["hello", "9", "next week sometime"])
def test_times_not_understood(text: str) -> None:
    assert parse_time(text, MONDAY_9, STOCKHOLM) is None


async def _got(env: SlackEnv, fragment: str) -> bool:
    return any(fragment in t for t in env.customer.texts())


async def _roots(env: SlackEnv) -> list[dict[str, object]]:
    return env.fake.roots(SUPPORT)


async def _thread_ts(env: SlackEnv, ticket_id: int) -> str | None:
    return await env.thread_ts(ticket_id)


async def _ticket(env: SlackEnv) -> Ticket | None:
    async with env.core.sessions() as session:
        return await session.scalar(select(Ticket))


async def test_callback_from_customer_channel_to_slack_and_back(
    slack_env: SlackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = slack_env
    monkeypatch.setattr(callback, "now", lambda: MONDAY_9)
    await env.customer_says("Could you call me back please?", "c-1")
    await wait_for(lambda: _got(env, "Which phone number"))
    await env.customer_says("12345", "c-2")
    await wait_for(lambda: _got(env, "doesn't look like a phone number"))
    await env.customer_says("020 7946 0958", "c-3")
    await wait_for(lambda: _got(env, "When would suit you?"))
    await env.customer_says("/help", "c-4")  # other commands still work mid-way
    await wait_for(lambda: _got(env, "Just write your question"))
    await env.customer_says("tomorrow 20:00", "c-5")
    await wait_for(lambda: _got(env, "We're closed then. The next time we're open is Wednesday"))
    await env.customer_says("tomorrow 10:00", "c-6")
    await wait_for(lambda: _got(env, "We'll call you on +442079460958, Tuesday 24 November 10:00"))
    ticket = await wait_for(lambda: _ticket(env))
    assert ticket.reason == "callback" and ticket.status == "open"
    assert ticket.subject == "Call back +442079460958 at 2026-11-24T10:00+01:00"
    await wait_for(lambda: _got(env, f"case #{ticket.id}"))

    await wait_for(lambda: _roots(env))
    root = env.fake.roots(SUPPORT)[0]
    shown = str(root.get("blocks")) + str(root.get("text"))
    assert "callback" in shown and "+442079460958" in shown, "staff see the number and time"
    assert "ticket_called" in shown and "'Called'" in shown, "a Called button for staff"

    # the adapter records the thread's ts just after Slack answered the post
    await wait_for(lambda: _thread_ts(env, ticket.id))
    await env.thread_reply(ticket.id, "!reply I tried to call you, please pick up :)")
    await wait_for(lambda: _got(env, "I tried to call you"))
    assert await env.action("ticket_called", ticket.id) == 200  # "Called" resolves it
    await wait_for(lambda: _got(env, "is now resolved"))
    async with env.core.sessions() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and "callback" not in (conversation.state or {})


async def test_callback_cancel_and_swedish_trigger(
    slack_env: SlackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = slack_env
    monkeypatch.setattr(callback, "now", lambda: MONDAY_9)
    await env.customer_says("Kan ni ringa mig imorgon?", "s-1")
    await wait_for(lambda: _got(env, "Vilket telefonnummer"))
    await env.customer_says("/cancel", "s-2")
    await wait_for(lambda: _got(env, "ingen uppringning"))
    await env.customer_says("/callback", "s-3")
    await wait_for(lambda: _got(env, "Vilket telefonnummer"))
    await env.customer_says("070-123 45 67", "s-4")
    await wait_for(lambda: _got(env, "När passar det dig?"))
    await env.customer_says("idag 08:30", "s-5")  # already past (it is 09:00)
    await wait_for(lambda: _got(env, "Jag förstod inte tiden"))
    await env.customer_says("när som helst", "s-6")
    await wait_for(lambda: _got(env, "Vi ringer dig på +46701234567, så snart vi kan"))
    ticket = await wait_for(lambda: _ticket(env))
    assert ticket.reason == "callback" and "+46701234567" in (ticket.subject or "")


def test_a_national_number_is_read_in_the_other_shipped_countries_too() -> None:
    from handlers.tickets.callback_parse import phone_in_any, regions_for

    assert phone_in_any("070-123 45 67", regions_for("en")) == "+46701234567"
    assert phone_in_any("020 7946 0958", regions_for("sv")) == "+442079460958"
    assert phone_in_any("12345", regions_for("en")) is None


@pytest.mark.parametrize(("text", "minutes"), [
    ("in 5 minutes", 5), ("in an hour", 60), ("om en timme", 60), ("om 30 minuter", 30),
    ("pēc 2 stundām", 120), ("pēc 15 minūtēm", 15),
])
def test_relative_times(text: str, minutes: int) -> None:
    from datetime import timedelta

    found = parse_time(text, MONDAY_9, ZoneInfo("Europe/Stockholm"))
    assert found is not None and found.at == MONDAY_9 + timedelta(minutes=minutes)


@pytest.mark.parametrize("text", [
    "please do not call me back", "Don't call me, just write", "Ring mig inte, tack",
    "Lūdzu, neatzvaniet man",
])
def test_a_refusal_to_be_called_does_not_start_the_dialogue(text: str) -> None:
    assert callback.NEGATED.search(text) is not None


async def test_asking_about_an_open_call_back_reaches_its_ticket(
    slack_env: SlackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = slack_env
    monkeypatch.setattr(callback, "now", lambda: MONDAY_9)
    await env.customer_says("Could you call me back please?", "u-1")
    await wait_for(lambda: _got(env, "Which phone number"))
    await env.customer_says("070-123 45 67", "u-2")
    await wait_for(lambda: _got(env, "When would suit you?"))
    await env.customer_says("tomorrow 10:00", "u-3")
    ticket = await wait_for(lambda: _ticket(env))
    await env.customer_says("/bot", "u-4")
    await env.customer_says("Any update on my callback?", "u-5")
    await wait_for(lambda: _got(env, f"Your call-back request (case #{ticket.id})"))
    async with env.core.sessions() as session:
        tickets = (await session.scalars(select(Ticket))).all()
    assert len(tickets) == 1, "no second request"
