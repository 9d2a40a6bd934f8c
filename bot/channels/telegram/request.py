"""PTB networking on aiohttp instead of httpx.

PTB's default ``HTTPXRequest`` was measured at ~300 messages/s against a local fake, the same
bot on one shared ``aiohttp.ClientSession`` at ~2,700/s (docs/channels/telegram.md). The session
is owned by the app's ``cleanup_ctx``; this class never opens or closes it, so ``Bot.shutdown``
cannot tear down a session other users still share.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 10.0


class AiohttpRequest(BaseRequest):
    """A ``telegram.request.BaseRequest`` that sends through a shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, read_timeout: float = DEFAULT_TIMEOUT):
        self._session = session
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open: the session belongs to the aiohttp app."""

    async def shutdown(self) -> None:
        """Nothing to close: the session belongs to the aiohttp app."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API call; map transport failures onto PTB's NetworkError/TimedOut."""
        read = read_timeout if isinstance(read_timeout, int | float) else self._read_timeout
        connect = connect_timeout if isinstance(connect_timeout, int | float) else 10.0
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        data, headers = _body(request_data)
        try:
            async with self._session.request(
                method, url, timeout=timeout, data=data, headers=headers
            ) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise TimedOut(f"aiohttp: timed out talking to {_host(url)}") from exc
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _body(request_data: RequestData | None) -> tuple[bytes | aiohttp.FormData | None,
                                                     dict[str, str]]:
    """Native JSON for ordinary calls, multipart for uploads.

    ``parameters`` (not ``json_payload``, which double-encodes nested values as strings) gives
    the body Telegram documents: numbers as numbers, ``reply_markup`` as an object.
    """
    if request_data is None:
        return None, {}
    if not request_data.contains_files:
        body = json.dumps(request_data.parameters, ensure_ascii=False).encode()
        return body, {"Content-Type": "application/json"}
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, *rest = part
        content_type = rest[0] if rest else "application/octet-stream"
        form.add_field(name, content, filename=filename, content_type=content_type)
    return form, {}


def _host(url: str) -> str:
    """The host only: URLs carry the bot token and must never reach a log line."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
