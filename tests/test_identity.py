"""Cross-channel identity: link codes, a ticket continued on another channel, merge and undo."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import cli
from bot.core import Core
from storage import linking
from storage.customer_view import customer_history
from storage.merge import MergeError, merge_customers, unmerge
from storage.models import ChannelIdentity, Conversation, Customer, Ticket, utcnow
from storage.models_identity import CustomerMerge, LinkCode
from tests.identity_support import Person, RecordingDesk, channels, code_in


@pytest.fixture
def desk(core: Core) -> RecordingDesk:
    recording = RecordingDesk()
    core.set_desk(recording)
    return recording


async def _customer_of(core: Core, channel: str, user: str) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(ChannelIdentity.customer_id).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == user)) or 0)


async def test_link_two_channels_and_continue_the_ticket(core: Core, desk: RecordingDesk) -> None:
    web_ch, tg_ch = channels(core, "web", "telegram")
    web = Person(core, web_ch, "visitor-1", name="Ana")
    tg = Person(core, tg_ch, "5550001", name="Ana B")
    await web.say("my parcel never arrived, talk to a person")
    assert desk.escalations == [1]
    await tg.say("hello from telegram")
    assert await _customer_of(core, "web", "visitor-1") != await _customer_of(
        core, "telegram", "5550001"), "no link yet: two customers"

    code = code_in(await web.say("/link"))
    replies = await tg.say(f"/link {code.lower()}")
    assert replies[0].startswith("Done! Your channels are now linked (telegram, web)")
    assert replies[1] == "Your open case #1 continues here."
    kept = await _customer_of(core, "web", "visitor-1")
    assert await _customer_of(core, "telegram", "5550001") == kept

    await tg.say("any news about my parcel?")
    assert desk.wrote[-1][0] == 1 and desk.wrote[-1][2] == "any news about my parcel?"
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 1
        history = await customer_history(s, kept, limit=100)
    assert {h.channel for h in history} == {"web", "telegram"}
    texts = [h.text for h in history]
    assert texts.index("my parcel never arrived, talk to a person") < texts.index(
        "hello from telegram") < texts.index("any news about my parcel?")
    assert [h.at for h in history] == sorted(h.at for h in history)
    assert (await tg.say(f"/link {code}")) == [
        "That code is not valid or has expired. Send /link on your other channel to get a new one."
    ], "a code works once"


async def test_shared_display_name_never_merges(core: Core) -> None:
    web_ch, tg_ch = channels(core, "web", "telegram")
    await Person(core, web_ch, "v-9", name="John Smith").say("hello there")
    await Person(core, tg_ch, "777", name="John Smith").say("hello there")
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == 2
        assert await s.scalar(select(func.count()).select_from(CustomerMerge)) == 0


async def test_link_code_rules(core: Core) -> None:
    """Stored hashed; expires after 10 minutes; single use; guessing is rate-limited."""
    web_ch, tg_ch = channels(core, "web", "telegram")
    await Person(core, web_ch, "w1").say("hi there")
    await Person(core, tg_ch, "t1").say("hi there")
    web_id = await _customer_of(core, "web", "w1")
    tg_id = await _customer_of(core, "telegram", "t1")
    now = utcnow()
    async with core.sessions.begin() as s:
        identity = await s.scalar(
            select(ChannelIdentity.id).where(ChannelIdentity.channel == "web"))
        guesser = await s.scalar(select(ChannelIdentity.id).where(
            ChannelIdentity.channel == "telegram"))
        assert identity and guesser
        code = await linking.issue_code(s, web_id, identity, now)
        stored = (await s.scalars(select(LinkCode.code_hash))).all()
        assert stored == [linking.digest(code.replace("-", ""))], "only the hash is stored"
        late = await linking.redeem_code(s, code, guesser, now + linking.CODE_TTL)
        assert late.outcome == "invalid", "expired at exactly 10 minutes"
        for n in range(linking.MAX_FAILED - 1):
            assert (await linking.redeem_code(s, f"AAAA-AAA{n + 2}", guesser, now)).outcome == (
                "invalid")
        limited = await linking.redeem_code(s, code, guesser, now)
        assert limited.outcome == "limited", "the 6th try is refused even with the right code"
        assert limited.retry_after is not None and limited.retry_after <= linking.FAILED_WINDOW
        later = now + linking.FAILED_WINDOW + timedelta(seconds=1)
        code2 = await linking.issue_code(s, web_id, identity, later)
        ok = await linking.redeem_code(s, code2, guesser, later)
        assert ok.outcome == "ok" and ok.customer_id == web_id
        again = await linking.redeem_code(s, code2, guesser, later)
        assert again.outcome == "invalid"
        assert tg_id != web_id


async def test_bad_link_input_is_refused_politely(core: Core) -> None:
    (tg_ch,) = channels(core, "telegram")
    tg = Person(core, tg_ch, "t5")
    assert (await tg.say("/link not-a-code!"))[0].startswith("That code is not valid")
    code = code_in(await tg.say("/link"))
    assert (await tg.say(f"/link {code}")) == ["These channels are already linked."]
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(CustomerMerge)) == 0


async def test_linking_from_swedish_uses_plural_and_swedish(core: Core) -> None:
    (web_ch,) = channels(core, "web")
    web = Person(core, web_ch, "w-sv")
    await web.say("/lang sv")
    reply = (await web.say("/link"))[0]
    assert reply.startswith("Din länkkod är ") and "inom 10 minuter" in reply


async def test_merge_and_undo(core: Core, desk: RecordingDesk) -> None:
    web_ch, tg_ch = channels(core, "web", "telegram")
    web = Person(core, web_ch, "w7", name=None)
    tg = Person(core, tg_ch, "t7", name="Maris")
    await web.say("/human")
    await tg.say("/lang lv")
    await tg.say("sveiki")
    keep, fold = await _customer_of(core, "web", "w7"), await _customer_of(core, "telegram", "t7")
    async with core.sessions.begin() as s:
        record = await merge_customers(s, keep, fold, actor="agent:U1")
        merge_id = record.id
        assert record.moved["conversations"] and record.moved["channel_identities"]
    async with core.sessions() as s:
        kept = await s.get_one(Customer, keep)
        assert kept.display_name == "Maris" and kept.locale == "lv", "filled from the merged one"
        assert (await s.get_one(Customer, fold)).attributes["merged_into"] == keep
        convs = (await s.scalars(select(Conversation.customer_id))).all()
        assert set(convs) == {keep}
    await tg.say("vēl viens jautājums")  # written while merged: follows its conversation back
    async with core.sessions.begin() as s:
        with pytest.raises(MergeError, match="itself"):
            await merge_customers(s, keep, keep, actor="x")
        with pytest.raises(MergeError, match="already merged"):
            await merge_customers(s, keep, fold, actor="x")
    async with core.sessions.begin() as s:
        await unmerge(s, merge_id, actor="agent:U1")
    async with core.sessions() as s:
        assert (await s.get_one(Customer, keep)).display_name is None
        assert (await s.get_one(Customer, keep)).locale is None
        assert "merged_into" not in (await s.get_one(Customer, fold)).attributes
        tg_conv = await s.scalar(select(Conversation).where(Conversation.channel == "telegram"))
        assert tg_conv is not None and tg_conv.customer_id == fold
        assert await s.scalar(select(Ticket.customer_id)) == keep
    assert await _customer_of(core, "telegram", "t7") == fold
    async with core.sessions.begin() as s:
        with pytest.raises(MergeError, match="already undone"):
            await unmerge(s, merge_id, actor="x")


async def test_undo_refuses_out_of_order(core: Core) -> None:
    a_ch, b_ch, c_ch = channels(core, "web", "telegram", "test")
    for ch, user in ((a_ch, "a"), (b_ch, "b"), (c_ch, "c")):
        await Person(core, ch, user).say("hello there")
    a, b, c = [await _customer_of(core, ch, u) for ch, u in
               (("web", "a"), ("telegram", "b"), ("test", "c"))]
    async with core.sessions.begin() as s:
        first = (await merge_customers(s, a, b, actor="x")).id
        second = (await merge_customers(s, c, a, actor="x")).id
    async with core.sessions.begin() as s:
        with pytest.raises(MergeError, match=f"undo {second} first"):
            await unmerge(s, first, actor="x")
    async with core.sessions.begin() as s:
        await unmerge(s, second, actor="x")
        await unmerge(s, first, actor="x")
    assert {await _customer_of(core, ch, u) for ch, u in
            (("web", "a"), ("telegram", "b"), ("test", "c"))} == {a, b, c}


async def _cli(argv: list[str]) -> int:
    """The real command line, in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(cli.main, argv)


async def test_cli_merge_unmerge(core: Core, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    web_ch, tg_ch = channels(core, "web", "telegram")
    await Person(core, web_ch, "w1").say("hello there")
    await Person(core, tg_ch, "t1").say("hello there")
    keep, fold = await _customer_of(core, "web", "w1"), await _customer_of(core, "telegram", "t1")
    monkeypatch.setenv("CRMBOT_DATABASE_URL", core.settings.database_url)
    assert await _cli(["customer", "merge", str(keep), "999999"]) == 2
    assert "no customer 999999" in capsys.readouterr().err
    assert await _cli(["customer", "merge", str(keep), str(fold)]) == 0
    out = capsys.readouterr().out
    assert f"customer {fold} merged into {keep}" in out and "unmerge 1" in out
    assert await _customer_of(core, "telegram", "t1") == keep
    assert await _cli(["customer", "merges"]) == 0
    assert "active" in capsys.readouterr().out
    assert await _cli(["customer", "unmerge", "1"]) == 0
    assert await _customer_of(core, "telegram", "t1") == fold
    assert await _cli(["customer", "unmerge", "1"]) == 2
    assert "already undone" in capsys.readouterr().err
