"""Plain text out of a mail body: HTML to text, and the quoted history and signature removed.

Matching the knowledge base on a reply that still carries our own previous answer (quoted) or
the customer's signature would match *that*; so only what the customer newly wrote is kept.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul",
              "ol", "section", "article", "header", "footer", "hr"}
SKIP_TAGS = {"script", "style", "head", "title", "blockquote"}
QUOTE_HEADER = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:|den\b.{0,200}\bskrev\b.{0,200}:|.{0,200}\bskrev:|.{0,200}\brakstīja:"
    r"|-{2,}\s*original message\s*-{2,}|-{2,}\s*ursprungligt meddelande\s*-{2,}"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
OUTLOOK_HEADER = re.compile(r"^\s*(from|från|no):\s.+$", re.IGNORECASE)
MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my|skickat från min|skickades från min|nosūtīts no).{0,60}$", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    """Collects visible text; quoted blocks (blockquote), scripts and styles are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self._skip += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body, one line per block, whitespace collapsed."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except (ValueError, AssertionError):  # hopeless markup: fall back to stripping tags
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line).strip()


def strip_reply(text: str) -> str:
    """What the sender newly wrote: stops at a quote header, a signature or quoted lines."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == "--" or line == "-- " or MOBILE_SIGNATURE.match(line):
            break
        outlook = kept and OUTLOOK_HEADER.match(line) and _blank_before(kept)
        if QUOTE_HEADER.match(line) or outlook:
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _blank_before(lines: list[str]) -> bool:
    return not lines[-1].strip()
