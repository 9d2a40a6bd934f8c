"""Slash commands every channel understands (``router``): /start, /help, /lang, /human, /bot."""
