"""POST /api/v1/feedback: authentication, validation with clear errors, idempotency, triage."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from handlers.intake import sentiment
from storage.models import InboundEvent, OutboxItem, Ticket
from storage.models_feedback import Feedback
from tests.conftest import make_settings
from tests.webapp import Served, eventually, serve

TOKEN = "intake-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def served(db_url: str) -> AsyncIterator[Served]:
    async with serve(make_settings(db_url, intake_token=TOKEN)) as s:
        yield s


def item(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "trustpilot", "external_id": "rev-1", "author": "Anna K.",
        "url": "https://reviews.example/shop/rev-1", "rating": 1,
        "text": "Terrible. My parcel never arrived and nobody answers.", "language": "en",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def post(served: Served, body: Any, headers: dict[str, str] | None = None,
               raw: bytes | None = None) -> tuple[int, dict[str, Any], Any]:
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"data": io.BytesIO(raw)} if raw is not None else {"json": body}
        async with http.post(served.base + "/api/v1/feedback", headers=headers or AUTH,
                             **kwargs) as resp:
            return resp.status, await resp.json(), resp.headers


async def _processed(served: Served) -> bool:
    return await served.count(InboundEvent, InboundEvent.processed_at.is_(None)) == 0


async def test_negative_review_is_stored_once_with_a_ticket_and_suggestion(
    served: Served,
) -> None:
    status, body, _ = await post(served, item())
    assert (status, body) == (202, {"status": "accepted", "id": "trustpilot:rev-1"})
    status, body, _ = await post(served, item(text="edited text, same review"))
    assert (status, body["status"]) == (200, "duplicate")
    await eventually(lambda: _processed(served))
    async with served.core.sessions() as s:
        rows = list(await s.scalars(select(Feedback)))
        tickets = list(await s.scalars(select(Ticket)))
    assert len(rows) == 1 and len(tickets) == 1
    row, ticket = rows[0], tickets[0]
    assert (row.source, row.external_id, row.author, row.rating) == (
        "trustpilot", "rev-1", "Anna K.", 1)
    assert row.url == "https://reviews.example/shop/rev-1"
    assert row.text.startswith("Terrible") and row.sentiment == "negative"
    assert row.ticket_id == ticket.id and ticket.priority == "high"
    assert ticket.channel == "intake" and ticket.reason == "negative_feedback"
    assert row.suggested_reply and "shop.example/orders" in row.suggested_reply
    assert await served.count(OutboxItem, OutboxItem.channel == "intake") == 0, "no reply"


@pytest.mark.parametrize(("text", "language"), [
    ("Mycket dålig service, paketet kom aldrig.", "sv"),
    ("Ļoti slikta apkalpošana, prece tā arī nepienāca.", "lv"),
])
async def test_negative_wording_without_rating_opens_a_ticket(
    served: Served, text: str, language: str
) -> None:
    status, _, _ = await post(served, item(rating=None, text=text, language=language))
    assert status == 202
    await eventually(lambda: _processed(served))
    async with served.core.sessions() as s:
        row = await s.scalar(select(Feedback))
    assert row is not None and row.sentiment == "negative" and row.ticket_id is not None
    assert row.language == language and row.rating is None


async def test_off_topic_complaint_gets_a_ticket_but_no_suggested_answer(
    served: Served,
) -> None:
    status, _, _ = await post(served, item(text="The music in your advert is annoying."))
    assert status == 202
    await eventually(lambda: _processed(served))
    async with served.core.sessions() as s:
        row = await s.scalar(select(Feedback))
    assert row is not None and row.sentiment == "negative" and row.ticket_id is not None
    assert row.suggested_reply is None and row.suggested_entry_id is None


async def test_positive_review_is_stored_without_a_ticket(served: Served) -> None:
    status, _, _ = await post(served, item(external_id="r2", rating=5, language=None,
                                           text="Great shop, fast delivery, friendly staff!"))
    assert status == 202
    await eventually(lambda: _processed(served))
    async with served.core.sessions() as s:
        row = await s.scalar(select(Feedback))
    assert row is not None and row.sentiment == "positive" and row.ticket_id is None
    assert row.language == "en", "detected when not given"
    assert await served.count(Ticket) == 0


INVALID = [
    ({"external_id": "x", "text": "hi"}, "source"),
    ({"source": "forum", "text": "hi"}, "external_id"),
    ({"source": "forum", "external_id": "x"}, "text"),
    ({"source": "forum", "external_id": "x", "text": "   "}, "text"),
    ({"source": "bad source!", "external_id": "x", "text": "hi"}, "source"),
    ({"source": "forum", "external_id": "x", "text": "hi", "rating": 6}, "rating"),
    ({"source": "forum", "external_id": "x", "text": "hi", "rating": True}, "rating"),
    ({"source": "forum", "external_id": "x", "text": "hi", "url": "javascript:x"}, "url"),
    ({"source": "forum", "external_id": "x", "text": "hi", "email": "nope"}, "email"),
    ({"source": "forum", "external_id": ["x"], "text": "hi"}, "external_id"),
]


async def test_invalid_fields_are_named(served: Served) -> None:
    for body, field in INVALID:
        status, answer, _ = await post(served, body)
        assert status == 422, body
        error = answer["error"]  # the REST API's one error shape
        assert error["code"] == "invalid_field" and error["field"] == field, body
        assert field in error["message"]
    assert await served.count(InboundEvent) == 0


async def test_oversize_text_is_refused_and_nothing_stored(served: Served) -> None:
    status, answer, _ = await post(served, item(text="x" * 4001))
    error = answer["error"]
    assert status == 413 and error["field"] == "text" and "4000" in error["message"]
    status, answer, _ = await post(served, None, raw=b'{"text": "' + b"x" * 1_100_000 + b'"}',
                                   headers={**AUTH, "Content-Type": "application/json"})
    assert status == 413 and answer["error"]["code"] == "too_large"
    assert await served.count(InboundEvent) == 0


async def test_bad_json_is_refused(served: Served) -> None:
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        status, answer, _ = await post(served, None, raw=raw,
                                       headers={**AUTH, "Content-Type": "application/json"})
        assert status == 400 and answer["error"]["code"] == "malformed_json"
    assert await served.count(InboundEvent) == 0


async def test_wrong_or_missing_token_is_refused(served: Served) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}):
        status, answer, resp_headers = await post(served, item(), headers=headers or {"X": "1"})
        assert status == 401 and answer["error"]["code"] == "unauthorized"
        assert resp_headers["WWW-Authenticate"].startswith("Bearer")
    assert await served.count(InboundEvent) == 0


async def test_closed_without_a_configured_token(db_url: str) -> None:
    async with serve(make_settings(db_url)) as served:
        status, answer, _ = await post(served, item())
    assert status == 403 and answer["error"]["code"] == "intake_disabled"
    assert "CRMBOT_INTAKE_TOKEN" in answer["error"]["message"]


async def test_rate_limited_with_retry_after(db_url: str) -> None:
    settings = make_settings(db_url, intake_token=TOKEN, intake_rate_limit="2/minute")
    async with serve(settings) as served:
        for n in range(2):
            assert (await post(served, item(external_id=f"n{n}")))[0] == 202
        status, answer, headers = await post(served, item(external_id="n2"))
        assert status == 429 and answer["error"]["code"] == "rate_limited"
        assert int(headers["Retry-After"]) >= 1
        assert await served.count(InboundEvent) == 2


@pytest.mark.parametrize(("text", "rating", "expected"), [
    ("Terrible service, my parcel never arrived", None, "negative"),
    ("not good at all", None, "negative"),
    ("Great shop, fast delivery", None, "positive"),
    ("The parcel came on Tuesday.", None, "neutral"),
    ("The parcel came on Tuesday.", 2, "negative"),
    ("The parcel came on Tuesday.", 5, "positive"),
    ("Mycket dålig service, paketet kom aldrig", None, "negative"),
    ("Jag är inte nöjd med leveransen", None, "negative"),
    ("Jättebra, snabb leverans", None, "positive"),
    ("Ļoti slikta apkalpošana, prece nepienāca", None, "negative"),
    ("Lielisks veikals, ātra piegāde", None, "positive"),
    ("not bad", None, "neutral"),
])
def test_sentiment_lexicon(text: str, rating: int | None, expected: str) -> None:
    assert sentiment.classify(text, rating, model=False) == expected
