"""Opting in and out of announcements: /subscribe, /stop, /unsubscribe and the plain words
"stop" / "unsubscribe" / "sluta" / "avregistrera" / "atteikties" (en/sv/lv), or the
``bc:stop`` / ``bc:subscribe`` buttons (the web widget's news toggle sends these).
Priority 8: before everything else but the guard, so an opt-out works even while a person from
staff owns the conversation, and takes effect at once (the outbox re-checks consent right
before each announcement).
"""

from __future__ import annotations

from bot.context import Context
from bot.dispatcher import Router
from storage.consent import set_consent

router = Router("broadcast", priority=8)

OPT_IN_COMMANDS = frozenset({"subscribe"})
OPT_OUT_COMMANDS = frozenset({"stop", "unsubscribe"})
OPT_OUT_WORDS = frozenset({"stop", "unsubscribe", "sluta", "avregistrera", "atteikties"})
STOP_BUTTON = "bc:stop"
SUBSCRIBE_BUTTON = "bc:subscribe"


def choice(text: str, kind: str, callback_data: str | None) -> bool | None:
    """True = opt in, False = opt out, None = not about consent."""
    if kind == "callback":
        return {STOP_BUTTON: False, SUBSCRIBE_BUTTON: True}.get(callback_data or "")
    text = text.strip().lower()
    if text.startswith("/"):
        name = text[1:].split(" ", 1)[0].split("@", 1)[0]
        if name in OPT_IN_COMMANDS:
            return True
        return False if name in OPT_OUT_COMMANDS else None
    word = text.strip(" .!?\"'")
    return False if word in OPT_OUT_WORDS else None


@router.handler
async def consent(ctx: Context) -> bool:
    inbound = ctx.inbound
    if inbound.kind not in ("text", "command", "callback"):
        return False
    allowed = choice(inbound.text or "", inbound.kind, inbound.callback_data)
    if allowed is None:
        return False
    changed = await set_consent(ctx.session, ctx.customer.id, allowed, inbound.channel)
    if allowed:
        ctx.reply(ctx.t("broadcast_subscribed" if changed else "broadcast_already_subscribed"))
    else:
        ctx.reply(ctx.t("broadcast_unsubscribed" if changed else "broadcast_already_unsubscribed"))
    return True
