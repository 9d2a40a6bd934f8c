"""Platform-neutral conversation features, one module each, each exposing a ``router``."""

from __future__ import annotations

from bot.dispatcher import Router


def default_routers() -> list[Router]:
    """Every shipped feature router; the dispatcher orders them by priority."""
    from handlers import (
        broadcast,
        callback,
        commands,
        escalation,
        faq,
        feedback,
        guard,
        human,
        identity,
        intake,
        smalltalk,
        surveys,
        tickets,
    )

    return [
        intake.router,
        tickets.router,
        guard.router,
        broadcast.router,
        identity.router,
        callback.router,
        commands.router,
        feedback.router,
        surveys.router,
        human.router,
        escalation.router,
        smalltalk.router,
        faq.router,
        faq.fallback_router,
    ]
