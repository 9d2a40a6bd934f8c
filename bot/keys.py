"""Typed aiohttp app keys of the runtime, in a module of their own.

Web surfaces and channels read the core from the app (``request.app[CORE]``); defining the key
here instead of in bot/app.py (the composition root, which imports all of them) keeps the
import graph a tree: surfaces depend on the runtime, the root depends on the surfaces.
"""

from __future__ import annotations

from aiohttp import web

from bot.core import Core

CORE = web.AppKey("core", Core)
