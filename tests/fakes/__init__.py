"""Fake platform servers (aiohttp on 127.0.0.1, port 0) speaking the real wire protocols."""
