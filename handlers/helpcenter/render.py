"""Turning KB text and the site into HTML, JSON-LD, Atom and the sitemap.

KB answers are plain text written by admins: they are escaped, blank lines become paragraphs,
line breaks stay, and http(s) links become links. Nothing an admin or a visitor types is ever
inserted unescaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from markupsafe import Markup, escape

from handlers.helpcenter.site import Article

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")
OG_LOCALES = {"en": "en_GB", "sv": "sv_SE", "lv": "lv_LV"}
LANGUAGE_NAMES = {"en": "English", "sv": "Svenska", "lv": "Latviešu"}


def text_html(text: str) -> Markup:
    """Escaped paragraphs with line breaks and clickable links."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(_linked(p)) for p in paragraphs)


def _linked(text: str) -> Markup:
    out, last = [], 0
    for found in _URL.finditer(text):
        out.append(escape(text[last:found.start()]))
        url = found.group(0)
        out.append(Markup('<a href="{}">{}</a>').format(url, url))
        last = found.end()
    out.append(escape(text[last:]))
    return Markup("").join(out).replace("\n", Markup("<br>\n"))


def jsonld(data: dict[str, Any]) -> Markup:
    """A JSON-LD block body; ``</`` is escaped so no text can close the script element."""
    return Markup(json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))


def faq_page(article: Article, url: str) -> dict[str, Any]:
    return {"@context": "https://schema.org", "@type": "FAQPage", "url": url,
            "inLanguage": article.entry.locale,
            "mainEntity": [{"@type": "Question", "name": article.title,
                            "acceptedAnswer": {"@type": "Answer",
                                               "text": article.entry.answer}}]}


def web_site(name: str, home: str, search: str, locale: str) -> dict[str, Any]:
    return {"@context": "https://schema.org", "@type": "WebSite", "name": name, "url": home,
            "inLanguage": locale,
            "potentialAction": {"@type": "SearchAction",
                                "target": search + "?q={search_term_string}",
                                "query-input": "required name=search_term_string"}}


def summary(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rsplit(" ", 1)[0] + "…"


def sitemap(urls: Iterable[tuple[str, dict[str, str]]]) -> str:
    """``<urlset>`` with each URL's language alternates (xhtml:link), as search engines want."""
    rows = []
    for loc, alternates in urls:
        links = "".join(
            f'<xhtml:link rel="alternate" hreflang="{xml_escape(lang)}" '
            f'href="{xml_escape(href)}"/>' for lang, href in sorted(alternates.items()))
        rows.append(f"<url><loc>{xml_escape(loc)}</loc>{links}</url>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:xhtml="http://www.w3.org/1999/xhtml">\n' + "\n".join(rows) + "\n</urlset>\n")


def atom(title: str, feed_url: str, page_url: str, locale: str,
         posts: list[tuple[int, str, str, datetime]]) -> str:
    """An Atom 1.0 feed of news posts (id, title, text, published)."""
    updated = max((p[3] for p in posts), default=datetime(2026, 1, 1, tzinfo=UTC)).isoformat()
    entries = "".join(
        f"<entry><id>{xml_escape(page_url)}#post-{pid}</id><title>{xml_escape(ptitle)}</title>"
        f'<link href="{xml_escape(page_url)}#post-{pid}"/>'
        f"<published>{when.isoformat()}</published><updated>{when.isoformat()}</updated>"
        f'<content type="text">{xml_escape(text)}</content></entry>'
        for pid, ptitle, text, when in posts)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{xml_escape(locale)}">'
            f"<id>{xml_escape(feed_url)}</id><title>{xml_escape(title)}</title>"
            f'<link rel="self" href="{xml_escape(feed_url)}"/>'
            f'<link rel="alternate" type="text/html" href="{xml_escape(page_url)}"/>'
            f"<updated>{updated}</updated>{entries}</feed>\n")
