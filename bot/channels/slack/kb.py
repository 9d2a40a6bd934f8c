"""``/crmbot kb add|edit`` in Slack: a modal for KB admins, saved as a revision by the Slack user.

The modal itself and the validation live in kb_form.py (no SDK there); this module
is only the Bolt glue: open the view on the slash command, apply it on submission.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import kb_ops
from bot.channels.slack import kb_form as slack_kb
from bot.core import Core

log = logging.getLogger("crmbot.slack")

Ack = Callable[..., Awaitable[Any]]


class SlackKB:
    def __init__(self, core: Core, t: Callable[..., str]) -> None:
        self._core = core
        self.t = t

    async def on_command(self, ack: Ack, command: dict[str, Any], client: AsyncWebClient) -> None:
        """Open the add/edit modal (admins only); every refusal is an ephemeral answer."""
        user = str(command.get("user_id") or "")
        parsed = slack_kb.parse_kb_command(str(command.get("text") or ""))
        if isinstance(parsed, str):
            await ack(text=parsed)
            return
        if not slack_kb.is_kb_admin(self._core.settings, user):
            await ack(text=self.t("desk_kb_not_admin"))
            return
        action, entry_id, locale = parsed
        entry = None
        if action == "edit" and entry_id is not None:
            async with self._core.sessions() as session:
                entry = await slack_kb.load_for_modal(session, entry_id, locale)
            if entry is None:
                await ack(text=self.t("desk_kb_no_entry", id=entry_id, locale=locale))
                return
        await ack()
        try:
            await client.views_open(trigger_id=str(command.get("trigger_id") or ""),
                                    view=slack_kb.build_kb_modal(entry, locale))
        except SlackApiError as exc:
            log.warning("slack: views.open failed: %s", exc.response.get("error"))

    async def on_view(self, ack: Ack, body: dict[str, Any]) -> None:
        """Save the submitted entry, or show Slack which fields are wrong."""
        user = str((body.get("user") or {}).get("id") or "")
        if not slack_kb.is_kb_admin(self._core.settings, user):
            await ack(response_action="errors",
                      errors={slack_kb.BLOCKS["answer"]: self.t("desk_kb_not_admin")})
            return
        async with self._core.sessions.begin() as session:
            result = await slack_kb.apply_kb_submission(session, body.get("view") or {}, user)
        if isinstance(result, dict):
            await ack(response_action="errors", errors=result)
            return
        await ack()
        await kb_ops.reload(self._core)
