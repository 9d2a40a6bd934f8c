"""The composition root of one process's core: the runtime wired with every shipped feature.

bot/core.py is the runtime and knows no feature; this module is where the default feature
routers (handlers.default_routers) meet it, so that tests and tools can build a core with any
routers they like and the runtime never imports a feature.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ConfigError, Settings
from bot.context import Services
from bot.core import Core
from bot.desk import NullDesk
from bot.dispatcher import Dispatcher, Router
from bot.i18n import Translator
from bot.kb import KnowledgeService
from bot.outbox import OutboxDispatcher
from bot.ports import ChannelRegistry
from bot.processor import WORKERS, Processor
from bot.ratelimit import SendThrottle
from handlers import default_routers
from storage.db import create_engine, is_sqlite, session_factory


def build_core(
    settings: Settings, *, engine: AsyncEngine | None = None, routers: list[Router] | None = None
) -> Core:
    """Wire a core from settings (nothing is started or connected yet)."""
    _check_feature_settings(settings)
    engine = engine or create_engine(
        settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    sessions = session_factory(engine)
    services = Services(
        settings=settings,
        kb=KnowledgeService(
            settings.default_locale, threshold=settings.match_threshold, kind=settings.matcher,
            wrong_cost=settings.match_wrong_cost,
            cache_dir=settings.cache_path / "matchers" if settings.cache_path else None,
        ),
        translator=Translator(),
        desk=NullDesk(),
    )
    registry = ChannelRegistry()
    outbox = OutboxDispatcher(
        sessions, registry, SendThrottle(settings.redis_url),
        max_attempts=settings.outbox_max_attempts,
        lease_seconds=settings.outbox_lease_seconds,
    )
    processor = Processor(
        sessions,
        services,
        Dispatcher(routers or default_routers()),
        # SQLite has one connection: a second batch would only wait for it, and take the
        # conversations the first batch's successor could have carried.
        workers=1 if is_sqlite(engine) else WORKERS,
        on_commit=outbox.wake,
    )
    return Core(settings, engine, sessions, services, processor, outbox, registry)


def _check_feature_settings(settings: Settings) -> None:
    """Settings that only a feature or a channel can read: wrong ones are a start-up error,
    not a surprise at the first ticket or the first reply."""
    from bot.channels import review_webhooks
    from handlers.tickets.assignment_rules import parse_rules

    try:
        parse_rules(settings.assign_rules)
        review_webhooks.parse(settings.review_webhooks)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
