"""Knowledge-base editing from Slack: ``/crmbot kb add`` and ``/crmbot kb edit ID [LOCALE]``.

Platform-neutral on purpose (no Slack SDK import): the Slack adapter (bot/channels/slack*) calls

1. ``parse_kb_command(text)`` on the slash command's text; for ("add"|"edit", id, locale) it
   checks ``is_kb_admin(settings, user_id)`` (else answers ephemerally "not allowed"),
2. ``await load_for_modal(session, id, locale)`` for edit (None -> "no such entry"), then
   ``build_kb_modal(entry_or_None, locale)`` and ``views.open(trigger_id, view=...)``,
3. on ``view_submission`` with ``callback_id == CALLBACK_ID``: re-checks ``is_kb_admin``, then
   ``result = await apply_kb_submission(session, body["view"], user_id)`` inside
   ``async with core.sessions.begin()``; a dict is Slack's ``{"response_action": "errors",
   "errors": result}``; a KBEntry means saved: ack empty and ``await kb_ops.reload(core)``.

The change is recorded as a KB revision with actor ``slack:<user id>``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import kb_ops
from bot.config import Settings
from knowledge.entries import KBEntry
from storage import kb as kb_repo

CALLBACK_ID = "crmbot_kb_entry"
BLOCKS = {"id": "kb_id", "locale": "kb_locale", "question": "kb_question",
          "phrasings": "kb_phrasings", "answer": "kb_answer", "tags": "kb_tags"}
LOCALES = ("en", "sv", "lv")
USAGE = "usage: /crmbot kb add [LOCALE] | /crmbot kb edit ID [LOCALE]"


def is_kb_admin(settings: Settings, slack_user: str) -> bool:
    """Slack users listed in CRMBOT_SLACK_KB_ADMINS may edit the KB (nobody when unset)."""
    allowed = {u.strip() for u in settings.slack_kb_admins.split(",") if u.strip()}
    return slack_user in allowed


def parse_kb_command(text: str) -> tuple[str, str | None, str] | str:
    """("add", None, locale) or ("edit", id, locale), or a usage/error message."""
    words = text.split()
    if words[:1] == ["kb"]:
        words = words[1:]
    if not words or words[0] not in ("add", "edit"):
        return USAGE
    action, rest = words[0], words[1:]
    entry_id = None
    if action == "edit":
        if not rest:
            return USAGE
        entry_id, rest = rest[0], rest[1:]
    locale = rest[0] if rest else "en"
    if locale not in LOCALES or len(rest) > 1:
        return f"unknown language {locale!r}: use one of {', '.join(LOCALES)}. {USAGE}"
    return action, entry_id, locale


async def load_for_modal(session: AsyncSession, entry_id: str, locale: str) -> KBEntry | None:
    return await kb_repo.get(session, entry_id, locale)


def _input(block: str, label: str, *, value: str = "", multiline: bool = False,
           optional: bool = False, hint: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value",
                               "multiline": multiline}
    if value:
        element["initial_value"] = value
    out: dict[str, Any] = {"type": "input", "block_id": block, "optional": optional,
                           "label": {"type": "plain_text", "text": label}, "element": element}
    if hint:
        out["hint"] = {"type": "plain_text", "text": hint}
    return out


def build_kb_modal(entry: KBEntry | None, locale: str = "en",
                   revision: int | None = None) -> dict[str, Any]:
    """The modal view for a new entry (``entry`` None) or for editing one language of it."""
    locale = entry.locale if entry else locale
    meta = {"mode": "edit" if entry else "add", "locale": locale,
            "id": entry.id if entry else None, "base": revision}
    blocks: list[dict[str, Any]] = []
    if entry is None:
        blocks.append(_input(BLOCKS["id"], "Id", hint="stable, no spaces, e.g. card_arrival"))
    else:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"Editing `{entry.id}` ({locale})"}]})
    blocks += [
        _input(BLOCKS["question"], "Question", value=entry.question if entry else ""),
        _input(BLOCKS["phrasings"], "Other phrasings (one per line)", multiline=True,
               optional=True, value="\n".join(entry.phrasings) if entry else ""),
        _input(BLOCKS["answer"], "Answer", multiline=True, value=entry.answer if entry else ""),
        _input(BLOCKS["tags"], "Tags (comma separated)", optional=True,
               value=", ".join(entry.tags) if entry else ""),
    ]
    title = "Edit KB entry" if entry else "New KB entry"
    return {"type": "modal", "callback_id": CALLBACK_ID, "private_metadata": json.dumps(meta),
            "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": "Save"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def _value(values: dict[str, Any], block: str) -> str:
    field = values.get(block, {}).get("value", {})
    return str(field.get("value") or "")


async def apply_kb_submission(
    session: AsyncSession, view: dict[str, Any], slack_user: str
) -> KBEntry | dict[str, str]:
    """Validate and save a submitted modal; errors come back keyed by block id for Slack."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        meta = {}
    values = (view.get("state") or {}).get("values") or {}
    editing = meta.get("mode") == "edit"
    entry_id = meta.get("id") if editing else _value(values, BLOCKS["id"])
    locale = meta.get("locale") or "en"
    current = await kb_repo.get(session, (entry_id or "").strip(), locale)
    if not editing and current is not None:
        return {BLOCKS["id"]: f"{current.id} ({locale}) already exists: use /crmbot kb edit"}
    data = {
        "id": (entry_id or "").strip(), "locale": locale,
        "question": _value(values, BLOCKS["question"]),
        "answer": _value(values, BLOCKS["answer"]),
        "phrasings": [p for p in _value(values, BLOCKS["phrasings"]).splitlines() if p.strip()],
        "tags": [t.strip() for t in _value(values, BLOCKS["tags"]).split(",") if t.strip()],
        "enabled": current.enabled if current is not None else True,
        "public": current.public if current is not None else True,
    }
    try:
        entry = KBEntry.model_validate(data)
    except ValidationError as exc:
        return _errors(exc, editing)
    base: dict[tuple[str, str], int | None] = {entry.key: None}
    if editing:
        base = {entry.key: meta["base"]} if isinstance(meta.get("base"), int) else {}
    try:
        await kb_ops.save(session, [entry], f"slack:{slack_user}", base)
    except kb_ops.Conflict as exc:
        return {BLOCKS["answer"]: str(exc)[:150]}
    return entry


def _errors(exc: ValidationError, editing: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "answer"
        if name == "locale" or (name == "id" and editing):
            name = "answer"
        out.setdefault(BLOCKS.get(name, BLOCKS["answer"]), str(err["msg"])[:150])
    return out
