"""The reference: a bare python-telegram-bot echo bot behind an aiohttp webhook route.

Usage: python bench/echo_bot.py PORT API_URL {httpx|aiohttp}
It stores nothing and matches nothing: the upper bound a PTB bot reaches on this machine.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.channels.telegram.request import AiohttpRequest


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message and update.message.text:
        await update.message.reply_text(update.message.text)


async def main(port: int, api: str, backend: str) -> None:
    session = aiohttp.ClientSession()
    builder = Application.builder().token("123:bench").updater(None)
    builder = builder.base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
    if backend == "aiohttp":
        builder = builder.request(AiohttpRequest(session)).get_updates_request(
            AiohttpRequest(session))
    else:
        builder = builder.connection_pool_size(64)
    ptb = builder.concurrent_updates(256).build()
    ptb.add_handler(MessageHandler(filters.TEXT, echo))

    async def webhook(request: web.Request) -> web.Response:
        await ptb.update_queue.put(Update.de_json(await request.json(), ptb.bot))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram/webhook", webhook)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    async with ptb:
        await ptb.start()
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
