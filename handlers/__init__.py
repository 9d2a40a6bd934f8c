"""Platform-neutral conversation features, one package each: faq, commands, guard, identity,
intake, smalltalk, tickets, surveys, broadcast, reports, helpcenter. A package's router is its
``router`` module (faq also has ``feedback``; tickets has one per module: escalation, human,
staff, callback, assignment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing a feature's module must not import the runtime's dispatcher
    from bot.dispatcher import Router


def default_routers() -> list[Router]:
    """Every shipped feature router; the dispatcher orders them by priority."""
    from handlers.broadcast import router as broadcast
    from handlers.commands import router as commands
    from handlers.faq import feedback
    from handlers.faq import router as faq
    from handlers.guard import router as guard
    from handlers.identity import router as identity
    from handlers.intake import router as intake
    from handlers.smalltalk import router as smalltalk
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
