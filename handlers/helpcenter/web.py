"""``GET /help/...``: the help center, server-rendered, cached per KB revision and locale.

Routes (the public contract, ../docs/help-center.md): ``/help/`` redirects to the visitor's
language (Accept-Language, then CRMBOT_DEFAULT_LOCALE); ``/help/{locale}/`` (topics from the
entries' tags, most-read articles, search); ``/help/{locale}/{slug}`` (one answer, related
articles, "Was this helpful?"); ``/help/{locale}/search?q=`` (the bot's own matcher and its
abstention: below the confidence to answer, the page says there is no good match and offers
the chat and the contact form, and the search is kept as a knowledge gap);
``/help/{locale}/news`` and ``news.atom`` (announcements published with ``publish: true``);
``/help/sitemap.xml``. Pages are rendered once per KB revision and kept in memory; an edit
shows as soon as the KB service sees the new revision (within a second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy import select

from bot.core import Core
from bot.i18n import normalise_locale
from bot.web.edge import form_fields
from handlers.helpcenter import render, site, store
from storage.clean import clean_text
from storage.models_broadcast import Broadcast

TEMPLATES = Path(__file__).resolve().parent / "templates"
HOME_TTL = 60.0  # the most-read list moves; the rest of the home page only with the KB
SEARCH_LIMIT = 8
MAX_QUERY = 300


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str
    accent: str


class HelpCenter:
    def __init__(self, core: Core) -> None:
        self.core = core
        settings = core.settings
        self.brand = Brand(settings.help_name, settings.help_logo_url or "",
                           settings.help_accent)
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(TEMPLATES)]
        if settings.help_templates_dir:
            loaders.insert(0, jinja2.FileSystemLoader(settings.help_templates_dir))
        self.jinja = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True)
        self.views = store.ViewCounter(core.sessions)
        self._site: site.Site | None = None
        self._cache: dict[tuple[str, ...], tuple[float, str]] = {}

    @property
    def base(self) -> str:
        return self.core.settings.public_url.rstrip("/")

    @property
    def ui_locales(self) -> tuple[str, ...]:
        return tuple(sorted(self.core.services.translator.catalogs))

    async def current(self) -> site.Site:
        """The site of the KB revision the service has loaded (checked at most once a second)."""
        kb = self.core.services.kb
        async with self.core.sessions() as session:
            await kb.refresh(session)
        if self._site is None or self._site.revision != kb.revision:
            # In a worker thread, like the large pages below: with 3,000 entries the site's
            # build and the home page held every conversation ~0.1 s once per revision.
            built = await asyncio.to_thread(site.build, kb.entries(), kb.revision,
                                            self.ui_locales)
            if self._site is None or self._site.revision != built.revision:
                self._site = built
                self._cache.clear()
        return self._site

    def fresh(self, key: tuple[str, ...], ttl: float | None) -> str | None:
        """The page rendered for ``key`` (this KB revision), unless older than ``ttl``."""
        hit = self._cache.get(key)
        if hit is not None and (ttl is None or time.monotonic() - hit[0] < ttl):
            return hit[1]
        return None

    def keep(self, key: tuple[str, ...], body: str) -> str:
        self._cache[key] = (time.monotonic(), body)
        return body

    def cached(self, key: tuple[str, ...], ttl: float | None, make: Callable[[], str]) -> str:
        found = self.fresh(key, ttl)
        return found if found is not None else self.keep(key, make())

    def page(self, template: str, locale: str, **values: Any) -> str:
        translator = self.core.services.translator

        def t(key: str, **kw: Any) -> str:
            return translator.t(key, locale, **kw)

        def category_label(name: str) -> str:
            if name == site.GENERAL:
                return t("help_general")
            return name.replace("_", " ").capitalize()

        values.setdefault("alternates", {})
        values.setdefault("switch", {})
        values.setdefault("jsonld", None)
        values.setdefault("og_type", "website")
        return self.jinja.get_template(template).render(
            t=t, locale=locale, brand=self.brand, base="", category_label=category_label,
            language_names=render.LANGUAGE_NAMES, og_locale=render.OG_LOCALES.get(locale, locale),
            default_locale=self.core.settings.default_locale, **values)

    def url(self, *parts: str) -> str:
        return self.base + "/help/" + "/".join(parts)


HELP = web.AppKey("crmbot_help_center", HelpCenter)


def setup(app: web.Application, core: Core) -> None:
    app[HELP] = HelpCenter(core)
    app.router.add_get("/help", to_root)
    app.router.add_get("/help/", choose_language)
    app.router.add_get("/help/sitemap.xml", sitemap)
    app.router.add_get("/help/{locale}", to_locale_home)
    app.router.add_get("/help/{locale}/", home)
    app.router.add_get("/help/{locale}/search", search)
    app.router.add_get("/help/{locale}/news", news)
    app.router.add_get("/help/{locale}/news.atom", news_atom)
    app.router.add_get("/help/{locale}/{slug}", article)
    app.router.add_post("/help/{locale}/{slug}/vote", vote)
    app.cleanup_ctx.append(_views)


async def to_root(request: web.Request) -> web.Response:
    return _redirect("/help/", 301)


async def to_locale_home(request: web.Request) -> web.Response:
    return _redirect(f"/help/{_locale(request)}/", 301)


async def _views(app: web.Application) -> AsyncIterator[None]:
    async with app[HELP].views.running():
        yield


def _redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={"Cache-Control": "public, max-age=60"})


def _locale(request: web.Request) -> str:
    """The path's locale if it is one the help center speaks, else 404."""
    wanted = request.match_info["locale"]
    if wanted not in request.app[HELP].ui_locales:
        raise web.HTTPNotFound(text=f"no help center in {wanted[:20]!r}")
    return wanted


def preferred(accept_language: str, offered: tuple[str, ...], default: str) -> str:
    """The best of ``offered`` for an Accept-Language header (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = normalise_locale(tag.strip()) if tag.strip() != "*" else None
        if lang in offered and q > 0:
            ranked.append((-q, index, lang))
    return min(ranked)[2] if ranked else default


async def choose_language(request: web.Request) -> web.Response:
    help_center = request.app[HELP]
    default = help_center.core.settings.default_locale
    locale = preferred(request.headers.get("Accept-Language", ""), help_center.ui_locales,
                       default)
    return web.Response(status=302, headers={"Location": f"/help/{locale}/",
                                             "Vary": "Accept-Language"})


async def home(request: web.Request) -> web.Response:
    """Re-rendered at most once a HOME_TTL per revision and locale: only then is the most-read
    list read from the database."""
    help_center, locale = request.app[HELP], _locale(request)
    current = await help_center.current()
    key = (str(current.revision), locale, "home")
    found = help_center.fresh(key, HOME_TTL)
    if found is not None:
        return _html(found)
    async with help_center.core.sessions() as session:
        read_ids = await store.most_read(session, locale)
    most_read = [a for i in read_ids if (a := current.by_entry_id(locale, i))]
    body = await asyncio.to_thread(
        help_center.page, "home.html", locale,
        title=help_center.core.services.translator.t("help_title", locale),
        description=help_center.brand.name, canonical=help_center.url(locale, ""),
        alternates={loc: help_center.url(loc, "") for loc in help_center.ui_locales},
        switch={loc: f"/help/{loc}/" for loc in help_center.ui_locales if loc != locale},
        most_read=most_read, categories=current.categories(locale),
        jsonld=render.jsonld(render.web_site(help_center.brand.name, help_center.url(locale, ""),
                                             help_center.url(locale, "search"), locale)))
    return _html(help_center.keep(key, body))


async def article(request: web.Request) -> web.Response:
    help_center, locale = request.app[HELP], _locale(request)
    current = await help_center.current()
    slug = request.match_info["slug"]
    found = current.article(locale, slug)
    if found is None:
        by_id = current.by_entry_id(locale, slug)
        if by_id is not None:
            return _redirect(f"/help/{locale}/{by_id.slug}", 301)
        title = help_center.core.services.translator.t("help_not_found", locale)
        body = help_center.page("notfound.html", locale, title=title, description=title,
                                canonical=help_center.url(locale, ""))
        return _html(body, 404)
    help_center.views.seen(found.entry.id, locale)
    voted = request.query.get("voted") == "1"
    key = (str(current.revision), locale, "article", found.slug, str(voted))
    return _html(help_center.cached(key, None, lambda: _article_page(help_center, current,
                                                                     found, voted)))


def _article_page(help_center: HelpCenter, current: site.Site, found: site.Article,
                  voted: bool) -> str:
    locale = found.entry.locale
    url = help_center.url(locale, found.slug)
    others = current.alternates(found)
    return help_center.page(
        "article.html", locale, title=found.title, description=render.summary(found.entry.answer),
        canonical=url, og_type="article", article=found, voted=voted,
        answer_html=render.text_html(found.entry.answer), related=current.related(found),
        alternates={loc: help_center.url(loc, a.slug) for loc, a in others.items()},
        switch={loc: f"/help/{loc}/{a.slug}" for loc, a in others.items() if loc != locale},
        jsonld=render.jsonld(render.faq_page(found, url)))


async def search(request: web.Request) -> web.Response:
    help_center, locale = request.app[HELP], _locale(request)
    query = clean_text(request.query.get("q", "")).strip()[:MAX_QUERY]
    if not query:
        return _redirect(f"/help/{locale}/")
    current = await help_center.current()
    result = await help_center.core.services.kb.amatch(query, locale, limit=SEARCH_LIMIT)
    results = [a for c in result.suggestions(SEARCH_LIMIT)
               if (a := current.by_entry_id(locale, c.entry_id))]
    best = result.best
    confident = bool(result.confident and best and results and results[0].entry.id == best.entry_id)
    if not confident:
        async with help_center.core.sessions.begin() as session:
            await store.unmatched_search(session, locale, query,
                                         (best.entry_id, best.score) if best else None)
    title = help_center.core.services.translator.t("help_results_for", locale, query=query)
    body = help_center.page(
        "search.html", locale, title=title, description=f"{title} · {help_center.brand.name}",
        canonical=help_center.url(locale, "search"), query=query, results=results,
        confident=confident)
    response = _html(body)
    response.headers["Cache-Control"] = "no-store"
    return response


async def vote(request: web.Request) -> web.Response:
    help_center, locale = request.app[HELP], _locale(request)
    current = await help_center.current()
    found = current.article(locale, request.match_info["slug"])
    if found is None:
        raise web.HTTPNotFound(text="no such article")
    form = await form_fields(request)
    helpful = form.get("helpful")
    if helpful not in ("yes", "no"):
        raise web.HTTPBadRequest(text="helpful must be yes or no")
    comment = str(form.get("comment") or "")
    async with help_center.core.sessions.begin() as session:
        await store.vote(session, found.entry.id, locale, helpful == "yes", comment)
    return _redirect(f"/help/{locale}/{found.slug}?voted=1#vote-title", 303)


async def _posts(help_center: HelpCenter, locale: str) -> list[tuple[int, str, str, datetime]]:
    async with help_center.core.sessions() as session:
        rows = (await session.scalars(
            select(Broadcast).where(Broadcast.status.in_(("running", "done")),
                                    Broadcast.started_at.is_not(None))
            .order_by(Broadcast.started_at.desc()).limit(200))).all()
    posts = []
    for row in rows:
        spec = row.spec or {}
        if not spec.get("publish"):
            continue
        messages = spec.get("messages") or {}
        text = messages.get(locale) or messages.get(spec.get("default_locale", "en")) or ""
        if row.started_at is not None and text:
            posts.append((row.id, row.name, str(text), row.started_at))
    return posts[:20]


async def news(request: web.Request) -> web.Response:
    help_center, locale = request.app[HELP], _locale(request)
    posts = [{"id": pid, "title": title, "html": render.text_html(text), "published": when}
             for pid, title, text, when in await _posts(help_center, locale)]
    body = help_center.page(
        "news.html", locale, title=help_center.core.services.translator.t("help_news", locale),
        description=help_center.brand.name, canonical=help_center.url(locale, "news"),
        alternates={loc: help_center.url(loc, "news") for loc in help_center.ui_locales},
        switch={loc: f"/help/{loc}/news" for loc in help_center.ui_locales if loc != locale},
        posts=posts)
    return _html(body)


async def news_atom(request: web.Request) -> web.Response:
    help_center, locale = request.app[HELP], _locale(request)
    title = f"{help_center.brand.name}: " + help_center.core.services.translator.t(
        "help_news", locale)
    feed = render.atom(title, help_center.url(locale, "news.atom"),
                       help_center.url(locale, "news"), locale,
                       await _posts(help_center, locale))
    return web.Response(text=feed, content_type="application/atom+xml")


async def sitemap(request: web.Request) -> web.Response:
    help_center = request.app[HELP]
    current = await help_center.current()
    urls: list[tuple[str, dict[str, str]]] = []
    homes = {loc: help_center.url(loc, "") for loc in help_center.ui_locales}
    urls += [(href, homes) for href in homes.values()]
    for locale in help_center.ui_locales:
        for found in current.articles.get(locale, {}).values():
            others = {loc: help_center.url(loc, a.slug)
                      for loc, a in current.alternates(found).items()}
            urls.append((help_center.url(locale, found.slug), others))
    text = await asyncio.to_thread(render.sitemap, urls)
    return web.Response(text=text, content_type="application/xml")
