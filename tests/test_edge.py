"""The edge's own guarantees (storage/clean.py, bot/web/edge.py), for any input at all."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.web.edge import RedactingAccessLogger, edge_middleware, redact
from storage.clean import BIGINT_MAX, BadInput, clean, clean_text, db_id, loads

hostile_text = st.text(st.characters() | st.characters(categories=["Cs", "Cc"]))
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | hostile_text,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(hostile_text, kids, max_size=4),
    max_leaves=30,
)


@given(hostile_text)
def test_cleaned_text_is_always_storable(text: str) -> None:
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # no lone surrogate left
    assert "\x00" not in cleaned and len(cleaned) == len(text)


@given(json_like)
def test_cleaned_values_keep_their_shape_and_encode(value: Any) -> None:
    cleaned = clean(value)
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")
    assert type(cleaned) is type(value) or isinstance(value, tuple)


@settings(max_examples=300)
@given(st.binary(max_size=300) | hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_loads_accepts_or_refuses_with_bad_input_only(raw: bytes) -> None:
    try:
        value = loads(raw)
    except BadInput as exc:
        assert exc.status in (400, 413) and str(exc)
    else:
        json.dumps(value, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deep_json_is_refused_at_any_depth(depth: int) -> None:
    with pytest.raises(BadInput) as refused:
        loads("[" * depth + "]" * depth)
    assert refused.value.code == "too_deep"
    assert loads("[" * 64 + "]" * 64) is not None


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "abc", "", str(BIGINT_MAX + 1), "١٢",
                                   "9" * 30, 0, -5, 2**64, True, None, 1.0])
def test_ids_outside_bigint_are_bad_input(value: object) -> None:
    with pytest.raises(BadInput):
        db_id(value)


def test_ids_inside_bigint_pass() -> None:
    assert db_id("1") == 1 and db_id(str(BIGINT_MAX)) == BIGINT_MAX and db_id(7) == 7


def test_redact_hides_credentials_in_urls() -> None:
    assert redact("/chat/ws?token=abc.def&since=3") == "/chat/ws?token=[redacted]&since=3"
    assert "s3cret" not in redact("/x?a=1&SECRET=s3cret")


async def test_access_log_never_holds_the_widget_token(caplog: pytest.LogCaptureFixture) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def boom(request: web.Request) -> web.Response:
        raise RecursionError("maximum recursion depth exceeded")

    app = web.Application(middlewares=[edge_middleware])
    app.router.add_get("/chat/ws", ok)
    app.router.add_get("/boom", boom)
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger,
                           access_log=logging.getLogger("crmbot.test.access"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    caplog.set_level(logging.INFO, "crmbot.test.access")
    try:
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/chat/ws?token=TOPSECRET.sig&since=4")
            refused = await http.get(f"http://127.0.0.1:{port}/boom")
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "crmbot.test.access"]
    assert any("/chat/ws?token=" in line for line in lines), lines
    assert all("TOPSECRET" not in line for line in lines), lines
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_request"


mail_bytes = st.builds(
    lambda subject, body, name: (
        b"From: " + name + b" <a@example.org>\r\nSubject: " + subject
        + b"\r\nMessage-ID: <m@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body),
    st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b)
    | st.sampled_from([b"=?utf-8?q?a=00b?=", b"=?utf-8?b?7aCA?=", b"=?x-unknown?q?z?="]),
    st.binary(max_size=200), st.binary(max_size=20).filter(lambda b: b"<" not in b),
)


@settings(max_examples=200)
@given(mail_bytes | st.binary(max_size=300))
@example(b"From: \x00@\x00 <a@example.org>\r\nSubject: \r\nMessage-ID: <m@example.org>\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n\r\n")
def test_any_mail_parses_to_storable_text_or_is_malformed(raw: bytes) -> None:
    from bot.channels.email.parse import MalformedMail, parse_mail

    try:
        mail = parse_mail(raw)
    except MalformedMail:
        return
    for text in (mail.subject, mail.display_name, mail.text, mail.message_id, mail.sender):
        text.encode("utf-8")
        assert "\x00" not in text


@pytest.mark.parametrize("argv", [
    ["customer", "export", "99999999999999999999999"], ["customer", "erase", "-3", "--yes"],
    ["events", "retry", "9" * 25], ["token", "revoke", "abc"], ["broadcast", "status", "0"],
])
def test_cli_ids_out_of_range_are_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "positive integer" in err and "Traceback" not in err
