"""The tickets feature's REST API under /api/v1: staff actions on a ticket (``desk``) and the
saved replies (``replies``); registered by bot/api/__init__.py like every resource module."""
