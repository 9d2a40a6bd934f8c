"""Learning staff display names from Slack (``users.info``), off the request path.

When someone acts in the desk (a thread reply, a button, a slash command), their id is handed
to :meth:`SlackNames.learn`, which returns at once; a background task asks Slack for the
person's display name if it is not known or older than a day, and stores it
(storage/agents.py). A failure is logged and tried again the next time they act.
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import agents
from storage.models import utcnow

log = logging.getLogger("crmbot.slack")
SOURCE = "slack"


class SlackNames:
    def __init__(self, client: AsyncWebClient, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._client = client
        self._sessions = sessions
        self._running: dict[str, asyncio.Task[None]] = {}

    def learn(self, user_id: str) -> None:
        """Look this person up in the background (once at a time per person)."""
        if not user_id or user_id in self._running:
            return
        task = asyncio.create_task(self._learn(user_id), name=f"crmbot-slack-name-{user_id}")
        self._running[user_id] = task
        task.add_done_callback(lambda _: self._running.pop(user_id, None))

    async def settle(self) -> None:
        """Wait for the lookups in flight (tests, shutdown)."""
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def _learn(self, user_id: str) -> None:
        try:
            if await agents.is_fresh(self._sessions, user_id, utcnow()):
                return
            response = await self._client.users_info(user=user_id)
            name = display_name(response.get("user") or {})
            if name:
                await agents.remember(self._sessions, user_id, name, SOURCE)
        except (SlackApiError, SlackClientError, OSError, TimeoutError) as exc:
            log.warning("slack: users.info for %s failed: %s", user_id, exc)
        except Exception:
            log.exception("slack: could not store the name of %s", user_id)


def display_name(user: dict[str, object]) -> str:
    """What Slack shows: the profile's display name, else the real name, else the handle."""
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    for value in (profile.get("display_name"), profile.get("real_name"),
                  user.get("real_name"), user.get("name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
