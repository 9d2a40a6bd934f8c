"""Platform-neutral conversation features, one module or package each, each with a ``router``
(a package's is in its ``router`` module: surveys, broadcast, assignment; tickets has one per
module: escalation, human, staff, callback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing a feature's module must not import the runtime's dispatcher
    from bot.dispatcher import Router


def default_routers() -> list[Router]:
    """Every shipped feature router; the dispatcher orders them by priority."""
    from handlers import commands, faq, feedback, guard, identity, intake, smalltalk
    from handlers.broadcast import router as broadcast
    from handlers.surveys import router as surveys
    from handlers.tickets import assignment, callback, escalation, human
    from handlers.tickets import staff as tickets

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
        assignment.router,
    ]
