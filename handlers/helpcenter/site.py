"""The help center's pages, built from the knowledge base once per KB revision.

An article is one public, enabled KB entry in one locale. Its slug is the entry id with ``_``
written as ``-`` (``card_arrival`` -> ``card-arrival``): ids are stable across edits by design
(docs/admin.md), so slugs are too; the id itself is accepted and redirected (301). Categories
are the entries' tags; an entry without tags is in "general". Related articles share a tag.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from knowledge.entries import KBEntry

GENERAL = "general"
RELATED = 5


@dataclass(frozen=True)
class Article:
    entry: KBEntry
    slug: str

    @property
    def title(self) -> str:
        return self.entry.question or self.entry.answer.split("\n", 1)[0][:120]

    @property
    def categories(self) -> tuple[str, ...]:
        return self.entry.tags or (GENERAL,)


@dataclass
class Site:
    """Every article by locale and slug, with the look-ups the pages need."""

    revision: int
    locales: tuple[str, ...]
    articles: dict[str, dict[str, Article]] = field(default_factory=dict)
    by_id: dict[tuple[str, str], Article] = field(default_factory=dict)

    def article(self, locale: str, slug: str) -> Article | None:
        return self.articles.get(locale, {}).get(slug)

    def by_entry_id(self, locale: str, entry_id: str) -> Article | None:
        return self.by_id.get((entry_id, locale))

    def alternates(self, article: Article) -> dict[str, Article]:
        """The same answer in the other languages (hreflang)."""
        found = {loc: self.by_id.get((article.entry.id, loc)) for loc in self.locales}
        return {loc: a for loc, a in found.items() if a is not None}

    def categories(self, locale: str) -> dict[str, list[Article]]:
        found: dict[str, list[Article]] = defaultdict(list)
        for art in sorted(self.articles.get(locale, {}).values(), key=lambda a: a.title.lower()):
            for tag in art.categories:
                found[tag].append(art)
        return dict(sorted(found.items(), key=lambda kv: (kv[0] == GENERAL, kv[0])))

    def related(self, article: Article) -> list[Article]:
        tags = set(article.categories)
        peers = [a for a in self.articles.get(article.entry.locale, {}).values()
                 if a is not article and tags & set(a.categories)]
        return sorted(peers, key=lambda a: a.title.lower())[:RELATED]


def slug_of(entry_id: str) -> str:
    return entry_id.replace("_", "-")


def build(entries: Iterable[KBEntry], revision: int, ui_locales: Iterable[str]) -> Site:
    """The site of one KB revision: public, enabled entries of the shipped UI languages."""
    wanted = set(ui_locales)
    shown = [e for e in entries if e.public and e.enabled and e.locale in wanted]
    site = Site(revision, tuple(sorted({e.locale for e in shown} or wanted)))
    for entry in sorted(shown, key=lambda e: e.id):
        pages = site.articles.setdefault(entry.locale, {})
        slug = slug_of(entry.id)
        if slug in pages:  # "a_b" and "a-b" both exist: the second keeps its id as slug
            slug = entry.id
        article = Article(entry, slug)
        pages[slug] = article
        site.by_id[(entry.id, entry.locale)] = article
    return site
