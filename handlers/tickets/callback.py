"""Phone call-back requests, on any channel: "/callback", "call me back", "ring mig",
"piezvaniet man".

Two questions, kept in ``ctx.state["callback"]`` so they survive restarts: the phone number
(validated and normalised to E.164 with ``phonenumbers``; the default region follows the
customer's language, or CRMBOT_CALLBACK_DEFAULT_REGION), then a preferred time ("tomorrow
10:00", "14:30", "any time"), checked against the business hours (bot/hours.py). Then a ticket
with reason ``callback`` is opened through :func:`handlers.tickets.escalation.escalate`, so it
reaches the desk (Slack) like any escalation; the number and time are in the ticket's subject and in
the transcript the desk shows. ``/cancel`` stops at any step; other commands keep working.
The router runs before the commands (priority 9) so "/callback" and "/cancel" are its own.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from babel.dates import format_datetime

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from bot.hours import HoursFileError, Team, hours_for, is_open, next_open
from bot.messages import parse_command
from handlers.tickets import escalation
from handlers.tickets.callback_parse import parse_time, phone_in_any, regions_for

router = Router("callback", priority=9)
STATE = "callback"
TRIGGER = re.compile(
    r"\b(call\s+me(\s+back)?|call\s*-?\s*back|ring\s+(upp\s+)?mig|kan\s+ni\s+ringa"
    r"|piezvan(iet|i)\s+(man|mums)|atzvan(iet|i))\b",
    re.IGNORECASE,
)
NEGATED = re.compile(
    r"\b(do\s*n[o']?t|never|no\s+need\s+to|stop)\s+(please\s+)?(call|ring)\b"
    r"|\bring\s+(upp\s+)?(mig|oss)\s+inte\b|\bring\s+inte\b|\bnezvan|\bneatzvan",
    re.IGNORECASE)
FOLLOW_UP = re.compile(
    r"\b(update|status|still|already|waiting|yet|än|fortfarande|väntar|redan|joprojām|gaidu|"
    r"jau)\b", re.IGNORECASE)
WHEN_FORMAT = "EEEE d MMMM HH:mm"


def now() -> datetime:
    """The current time (tests replace this to pin a weekday)."""
    return datetime.now(UTC)


@router.handler
async def callback(ctx: Context) -> bool:
    parsed = parse_command(ctx.text)
    if parsed is not None and parsed[0] == "callback":
        start(ctx)
        return True
    flow = ctx.state.get(STATE)
    if not isinstance(flow, dict):
        if (ctx.inbound.kind == "text" and ctx.conversation.mode == "bot"
                and TRIGGER.search(ctx.text) and not NEGATED.search(ctx.text)):
            if await _pending_call(ctx):
                return True
            start(ctx)
            return True
        return False
    if parsed is not None:
        if parsed[0] != "cancel":
            return False  # /help, /lang ... still work in the middle of the questions
        _finish(ctx)
        ctx.reply(ctx.t("callback_cancelled"))
        return True
    if ctx.inbound.kind not in ("text", "edited"):
        return False
    if flow.get("step") == "phone":
        ask_time_after_phone(ctx, flow)
    else:
        await take_time(ctx, flow)
    return True


async def _pending_call(ctx: Context) -> bool:
    """"Any update on my call-back?" from a customer whose call-back is still open reaches
    that ticket's staff instead of starting a second request."""
    ticket = await escalation.open_ticket(ctx)
    if ticket is None or ticket.reason != "callback" or not FOLLOW_UP.search(ctx.text):
        return False
    await desk_notify.tell(ctx, "customer_wrote", ticket)
    ctx.reply(ctx.t("callback_pending", ticket=ticket.id))
    return True


def start(ctx: Context) -> None:
    ctx.state[STATE] = {"step": "phone"}
    ctx.save_state()
    ctx.reply(ctx.t("callback_ask_phone"))


def ask_time_after_phone(ctx: Context, flow: dict[str, object]) -> None:
    regions = regions_for(ctx.locale, ctx.services.settings.callback_default_region)
    phone = phone_in_any(ctx.text, regions)
    if phone is None:
        ctx.reply(ctx.t("callback_bad_phone"))
        return
    ctx.state[STATE] = {"step": "time", "phone": phone}
    ctx.save_state()
    ctx.reply(ctx.t("callback_ask_time"))


async def take_time(ctx: Context, flow: dict[str, object]) -> None:
    team = _team(ctx)
    current = now()
    tz = team.tz if team is not None else UTC
    preferred = parse_time(ctx.text, current, tz)  # type: ignore[arg-type]
    if preferred is None or (preferred.at is not None and preferred.at <= current):
        ctx.reply(ctx.t("callback_bad_time"))  # not understood, or "today 08:00" at 09:00
        return
    if preferred.at is not None and team is not None and not is_open(preferred.at, team):
        opening = next_open(preferred.at, team)
        ctx.reply(ctx.t("callback_closed", next=_when(ctx, opening) if opening else "-"))
        return
    phone = str(flow.get("phone", ""))
    when = _when(ctx, preferred.at) if preferred.at else ctx.t("callback_any_time")
    _finish(ctx)
    ctx.reply(ctx.t("callback_confirmed", phone=phone, when=when))
    ticket = await escalation.escalate(ctx, reason="callback")
    at = preferred.at.isoformat(timespec="minutes") if preferred.at else "any time"
    ticket.subject = f"Call back {phone} at {at}"[:200]


def _finish(ctx: Context) -> None:
    ctx.state.pop(STATE, None)
    ctx.save_state()


def _team(ctx: Context) -> Team | None:
    try:
        return hours_for(ctx.services.settings).team()
    except (HoursFileError, ValueError):
        return None


def _when(ctx: Context, at: datetime) -> str:
    team = _team(ctx)
    tz = team.tz if team is not None else UTC
    return str(format_datetime(at, WHEN_FORMAT, tzinfo=tz, locale=ctx.locale))
