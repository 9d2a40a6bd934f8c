"""OutboundMessage -> a multipart (text + HTML) mail with threading and unsubscribe headers.

Buttons cannot be pressed in a mail: ``data`` buttons become numbered options (the customer
answers with the number; bot/channels/email/inbound.py maps it back to the button) and ``url``
buttons become links. Announcements (``meta["announcement"]`` or ``meta["unsubscribe"]``)
carry a List-Unsubscribe header (RFC 2369/8058 one-click) and a link in the body.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from bot.i18n import Translator
from bot.messages import OutboundMessage


@dataclass(frozen=True)
class Thread:
    """What the mail answers: the latest mail of the chat and its reference chain."""

    message_id: str
    references: tuple[str, ...]
    subject: str


@dataclass(frozen=True)
class Composed:
    mail: EmailMessage
    message_id: str
    subject: str
    references: tuple[str, ...]
    options: tuple[str, ...]


#: RFC 5322 allows 998 characters a line; at the default 78 Python RFC 2047-encodes a header
#: with no space to fold at, and mail clients then cannot read List-Unsubscribe's <URL>.
MAIL_POLICY = policy.default.clone(max_line_length=998)


def new_message_id(domain: str) -> str:
    """Message-IDs under one stable domain (CRMBOT_EMAIL_MESSAGE_ID_DOMAIN), so replies to any
    of our mails are recognised in In-Reply-To / References."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def compose(message: OutboundMessage, *, sender: str, domain: str, thread: Thread | None,
            translator: Translator, unsubscribe_url: str | None) -> Composed:
    locale = message.locale
    subject = _subject(message, thread, translator)
    options = tuple(b.data for row in message.buttons for b in row if b.data)
    text, markup = _bodies(message, translator, unsubscribe_url)
    mail = EmailMessage(policy=MAIL_POLICY)
    mail["From"] = sender
    mail["To"] = message.chat_id
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    message_id = new_message_id(domain)
    mail["Message-ID"] = message_id
    mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer us
    references: tuple[str, ...] = ()
    if thread is not None:
        references = (*thread.references, thread.message_id)[-20:]
        mail["In-Reply-To"] = thread.message_id
        mail["References"] = " ".join(references)
    if unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["Precedence"] = "bulk"
    mail.set_content(text)
    mail.add_alternative(markup, subtype="html")
    mail["Content-Language"] = locale  # after set_content, which drops Content-* headers
    return Composed(mail, message_id, subject, references, options)


def _subject(message: OutboundMessage, thread: Thread | None, translator: Translator) -> str:
    if message.meta.get("subject"):
        return str(message.meta["subject"])[:200]
    if is_announcement(message):  # news is not a reply to the customer's last question
        return translator.t("email_announcement_subject", message.locale)
    if thread is not None and thread.subject:
        base = thread.subject
        return base if base.lower().startswith(("re:", "sv:", "aw:")) else f"Re: {base}"
    return translator.t("email_subject", message.locale)


def is_announcement(message: OutboundMessage) -> bool:
    return any(message.meta.get(flag) for flag in ("broadcast", "announcement"))


def _bodies(message: OutboundMessage, translator: Translator,
            unsubscribe_url: str | None) -> tuple[str, str]:
    """The plain-text and HTML renderings of the same content."""
    locale = message.locale
    lines, items = [message.text], [_paragraphs(message.text)]
    numbered = [b for row in message.buttons for b in row if b.data]
    links = [b for row in message.buttons for b in row if b.url and not b.data]
    if numbered:
        hint = translator.t("email_options_hint", locale)
        lines.append(hint)
        lines += [f"{n}. {b.label}" for n, b in enumerate(numbered, 1)]
        entries = "".join(f"<li>{html.escape(b.label)}</li>" for b in numbered)
        items.append(f"<p>{html.escape(hint)}</p><ol>{entries}</ol>")
    for button in links:
        lines.append(f"{button.label}: {button.url}")
        items.append(f'<p><a href="{html.escape(button.url or "", quote=True)}">'
                     f"{html.escape(button.label)}</a></p>")
    if unsubscribe_url:
        label = translator.t("email_unsubscribe", locale)
        lines.append(f"--\n{label}: {unsubscribe_url}")
        items.append(f'<hr><p><small><a href="{html.escape(unsubscribe_url, quote=True)}">'
                     f"{html.escape(label)}</a></small></p>")
    body = "\n".join(items)
    markup = (f'<!DOCTYPE html><html lang="{html.escape(locale)}"><head><meta charset="utf-8">'
              f"</head><body>{body}</body></html>")
    return "\n\n".join(lines) + "\n", markup


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    return "".join("<p>" + html.escape(b).replace("\n", "<br>") + "</p>" for b in blocks)
