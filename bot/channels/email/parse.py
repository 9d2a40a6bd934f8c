"""Raw RFC 822 bytes -> :class:`ParsedMail` with the stdlib parser (``policy.default``).

Everything a hostile or broken mail can do to the parser is caught here and turned into
:class:`MalformedMail`, so the listener never dies on input: the caller stores the raw bytes for
staff instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses

from bot.channels.email.text import html_to_text, strip_reply
from storage.clean import clean_text

MSGID = re.compile(r"<[^<>\s]{1,250}>")
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress-never",
                "x-mailer-daemon")
DAEMONS = ("mailer-daemon@", "postmaster@")
#: Out-of-office replies that carry no Auto-Submitted header, known only by their subject
#: (Outlook, Gmail and common hand-written ones in en/sv/lv, plus German's "Abwesenheit").
AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|autoreply|"
    r"autosvar|automatiskt svar|frånvaro|frånvarande|"
    r"automātiskā atbilde|automātiska atbilde|prombūtnē|atvaļinājumā|abwesenheit\w*)\b",
    re.IGNORECASE)


class MalformedMail(ValueError):
    """The bytes are not a mail we can answer (no sender, undecodable structure)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    sender: str
    display_name: str
    subject: str
    text: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    language: str | None
    auto_reason: str | None
    attachments: tuple[Attachment, ...] = field(default=())

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, most specific first."""
        return tuple(dict.fromkeys(self.in_reply_to + tuple(reversed(self.references))))


def parse_mail(raw: bytes, envelope_from: str | None = None) -> ParsedMail:
    try:
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return _parsed(msg, raw, envelope_from)
    except MalformedMail:
        raise
    except Exception as exc:
        raise MalformedMail(f"{type(exc).__name__}: {exc}") from exc


def fallback_message_id(raw: bytes) -> str:
    """A stable id for a mail without (or with a broken) Message-ID: redelivery stays a repeat."""
    return "<sha256-" + hashlib.sha256(raw).hexdigest()[:40] + "@crmbot.invalid>"


def _parsed(msg: EmailMessage, raw: bytes, envelope_from: str | None) -> ParsedMail:
    pairs = getaddresses([str(msg.get("From", ""))])
    name, address = pairs[0] if pairs else ("", "")
    address = address.strip().lower()
    # isprintable: a NUL or another control character is no address (hypothesis found
    # "From: \x00@\x00 <a@example.org>" parsed to the sender "\x00@\x00")
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address) or not address.isprintable():
        raise MalformedMail("no valid From address")
    ids = MSGID.findall(str(msg.get("Message-ID", "")))
    language = str(msg.get("Content-Language", "") or "").split(",")[0].strip()[:2].lower()
    return ParsedMail(  # encoded words and bodies can carry NUL: clean_text makes them storable
        message_id=clean_text(ids[0]) if ids else fallback_message_id(raw),
        sender=address,
        display_name=clean_text(name.strip()[:200]),
        subject=clean_text(" ".join(str(msg.get("Subject", "")).split())[:500]),
        text=clean_text(strip_reply(_body_text(msg))),
        in_reply_to=tuple(MSGID.findall(str(msg.get("In-Reply-To", "")))),
        references=tuple(MSGID.findall(str(msg.get("References", ""))))[-20:],
        language=language or None,
        auto_reason=auto_reason(msg, address, envelope_from),
        attachments=tuple(_attachments(msg)),
    )


def auto_reason(msg: Message, sender: str, envelope_from: str | None) -> str | None:
    """Why this mail was written by a machine (never answer it: two bots would loop), or None."""
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for header in AUTO_HEADERS:
        if msg.get(header) is not None:
            return f"{header} present"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "empty return path"
    if str(msg.get("Return-Path", "x")).strip() == "<>":
        return "empty return path"
    if msg.get_content_type() == "multipart/report" or sender.startswith(DAEMONS):
        return "delivery report"
    subject = str(msg.get("Subject", "") or "")
    if AUTO_SUBJECT.match(subject):
        return f"out-of-office subject: {subject[:80]}"
    return None


def _body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        return html_to_text(content)
    return content


def _attachments(msg: EmailMessage) -> list[Attachment]:
    found = []
    for part in msg.iter_attachments():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True)
        found.append(Attachment(
            filename=str(part.get_filename() or "")[:255],
            content_type=part.get_content_type()[:255],
            data=data if isinstance(data, bytes) else b"",
        ))
    return found
