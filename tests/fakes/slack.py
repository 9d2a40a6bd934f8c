"""A fake Slack Web API (aiohttp, 127.0.0.1 port 0) and a signer for requests *from* Slack.

``/api/{method}`` answers like Slack: parameters merged from the query string, a form body and
a JSON body (slack_sdk uses all three), ``Authorization: Bearer`` checked (``invalid_auth``
otherwise), errors as ``200 {"ok": false, "error": ...}`` and rate limits as
``429 + Retry-After``. It keeps channels with messages and threads, so a test can read what the
bot posted where (``thread(channel, ts)``, ``roots(channel)``) and which reactions it added.

Test driver API: ``fail_next(method, error, status=200, retry_after=None)`` queues one failure,
``calls`` logs ``(method, params)``, ``SlackSigner`` builds signed Events API, interactivity and
slash-command requests like Slack sends them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.hang import client_gone

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0TEAM"


@dataclass
class Failure:
    error: str
    status: int = 200
    retry_after: float | None = None


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    reactions: list[tuple[str, str, str]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    dropped: int = 0  # hung calls whose client had given up
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    base_url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/api/"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, method: str, error: str, status: int = 200,
                  retry_after: float | None = None) -> None:
        self.failures[method].append(Failure(error, status, retry_after))

    def hang_next(self, method: str, seconds: float) -> None:
        """The next call is held until the client gives up, at most ``seconds``: then it is
        dropped unserved (it never reached Slack); if the client still waits, it is served late."""
        self.failures[method].append(Failure("hang", retry_after=seconds))

    # -- reading state -------------------------------------------------------------------

    def roots(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.messages[channel] if "thread_ts" not in m]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages[channel] if m.get("thread_ts") == ts]

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == method]

    # -- the API -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update({k: v for k, v in (await request.post()).items()})
        self.calls.append((method, params))
        if self.failures[method] and self.failures[method][0].error == "hang":
            held = self.failures[method].popleft().retry_after or 0
            if await client_gone(request, held):
                self.dropped += 1
                return web.Response(status=504)
        if self.failures[method]:
            failure = self.failures[method].popleft()
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            if failure.status >= 500 and failure.error == "html":
                return web.Response(status=failure.status, text="<html>oops</html>",
                                    content_type="text/html")
            return web.json_response({"ok": False, "error": failure.error},
                                     status=failure.status, headers=headers)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "api_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(params)
        return web.json_response(result)

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "crmbot",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}

    def api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel.startswith(("C", "G", "D")):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        thread_ts = params.get("thread_ts")
        if thread_ts and not any(m["ts"] == thread_ts for m in self.messages[channel]):
            return {"ok": False, "error": "thread_not_found"}
        message = {"type": "message", "ts": self._next_ts(), "user": BOT_USER, "bot_id": BOT_ID,
                   "text": params.get("text", ""), "blocks": _json(params.get("blocks"))}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel")), str(params.get("ts"))
        for message in self.messages[channel]:
            if message["ts"] == ts:
                message["text"] = params.get("text", "")
                message["blocks"] = _json(params.get("blocks"))
                message["edited"] = True
                return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}
        return {"ok": False, "error": "message_not_found"}

    def api_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self.ephemeral.append(params)
        return {"ok": True, "message_ts": self._next_ts()}

    def api_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("timestamp")), str(params.get("name")))
        if key in self.reactions:
            return {"ok": False, "error": "already_reacted"}
        self.reactions.append(key)
        return {"ok": True}

    def api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user"))
        return {"ok": True, "user": {"id": user, "name": user.lower(), "real_name": f"Agent {user}",
                                     "profile": {"display_name": f"agent-{user.lower()}"}}}

    def api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V0001", **(_json(params.get("view")) or {})}}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class SlackSigner:
    """Builds requests the way Slack sends them to POST /slack/events, signed or not."""

    secret: str
    team: str = TEAM
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def headers(self, body: str, content_type: str, ts: int | None = None,
                secret: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if ts is None else ts)
        key = (secret or self.secret).encode()
        digest = hmac.new(key, f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
        return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": f"v0={digest}"}

    def event(self, event: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps({
            "token": "legacy", "team_id": self.team, "api_app_id": "A0APP",
            "type": "event_callback", "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": self.team, "user_id": BOT_USER, "is_bot": True}],
        })

    def thread_reply(self, channel: str, thread_ts: str, user: str, text: str,
                     event_id: str | None = None) -> str:
        ts = f"{time.time():.6f}"
        return self.event({"type": "message", "channel": channel, "user": user, "text": text,
                           "ts": ts, "thread_ts": thread_ts, "channel_type": "channel",
                           "event_ts": ts}, event_id)

    def action(self, action_id: str, value: str, user: str, channel: str,
               message_ts: str) -> str:
        payload = {
            "type": "block_actions", "user": {"id": user, "team_id": self.team},
            "team": {"id": self.team}, "api_app_id": "A0APP", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "channel": {"id": channel}, "response_url": "http://127.0.0.1:9/unused",
            "actions": [{"action_id": action_id, "block_id": f"ticket:{value}", "type": "button",
                         "value": value, "action_ts": f"{time.time():.6f}"}],
        }
        return urlencode({"payload": json.dumps(payload)})

    def command(self, text: str, user: str, channel: str, command: str = "/crmbot") -> str:
        return urlencode({"token": "legacy", "team_id": self.team, "channel_id": channel,
                          "user_id": user, "command": command, "text": text,
                          "response_url": "http://127.0.0.1:9/unused", "trigger_id": "1.2.3",
                          "api_app_id": "A0APP"})
