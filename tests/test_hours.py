"""Business hours, holidays, DST, customers' clocks, plurals and dates per locale."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, Settings, load_settings
from bot.context import Context, Services
from bot.hours import (
    HoursFileError,
    business_seconds_between,
    customer_timezone,
    hours_for,
    is_open,
    is_quiet,
    load_business_hours,
    next_open,
    next_send_time,
)
from bot.i18n import Translator, format_datetime, t_plural
from bot.messages import InboundMessage
from handlers.identity.service import wait_text
from storage.models import ChannelIdentity, Conversation, Customer

TEAM = hours_for(None).team("default")  # the shipped sample: Stockholm, Mon-Thu 9-17, Fri 9-16


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _ctx(now: datetime, locale: str, customer: Customer | None = None,
         settings: Settings | None = None) -> Context:
    services = Services(settings=settings or Settings(_env_file=None),  # type: ignore[call-arg]
                        kb=None, translator=Translator())  # type: ignore[arg-type]
    return Context(
        session=None,  # type: ignore[arg-type]
        services=services,
        inbound=InboundMessage(channel="test", event_id="1", user_id="u", chat_id="u"),
        conversation=Conversation(), customer=customer or Customer(locale=locale),
        identity=ChannelIdentity(), locale=locale, now=now,
    )


def test_open_and_closed_on_an_ordinary_week() -> None:
    assert is_open(utc(2026, 3, 25, 8, 0), TEAM)  # Wednesday 09:00 CET
    assert not is_open(utc(2026, 3, 25, 7, 59), TEAM)
    assert not is_open(utc(2026, 3, 25, 16, 0), TEAM)  # 17:00 CET: closed
    assert next_open(utc(2026, 3, 25, 10, 0), TEAM) == utc(2026, 3, 25, 10, 0)


def test_around_christmas_holidays() -> None:
    """Wed 23 Dec after hours -> Thu 24 and Fri 25 are holidays, then the weekend: Mon 28."""
    evening = utc(2026, 12, 23, 17, 0)  # 18:00 in Stockholm
    assert next_open(evening, TEAM) == utc(2026, 12, 28, 8, 0)
    assert business_seconds_between(utc(2026, 12, 23, 15, 0), utc(2026, 12, 28, 9, 0),
                                    TEAM) == 2 * 3600  # 16-17 on the 23rd, 9-10 on the 28th
    text = wait_text(_ctx(evening, "sv"))
    assert text == "när vi öppnar (mån 28 december 09:00)"
    assert wait_text(_ctx(evening, "en")) == "when we open (Mon, Dec 28, 09:00)"


def test_spring_dst_change_2026_03_29() -> None:
    """Clocks go 02:00 -> 03:00 on Sunday 29 March: Monday 09:00 is 07:00 UTC, not 08:00."""
    saturday = utc(2026, 3, 28, 11, 0)
    assert next_open(saturday, TEAM) == utc(2026, 3, 30, 7, 0)
    friday_1500 = utc(2026, 3, 27, 14, 0)  # 15:00 CET; Friday closes at 16:00
    monday_1000 = utc(2026, 3, 30, 8, 0)  # 10:00 CEST
    assert business_seconds_between(friday_1500, monday_1000, TEAM) == 2 * 3600
    monday_0730 = utc(2026, 3, 30, 5, 30)
    assert wait_text(_ctx(monday_0730, "en")) == (
        "when we open, in about 2 hours (Mon, Mar 30, 09:00)")


def test_autumn_dst_change_2026_10_25() -> None:
    saturday = utc(2026, 10, 24, 10, 0)
    assert next_open(saturday, TEAM) == utc(2026, 10, 26, 8, 0)  # 09:00 CET
    before, after = utc(2026, 10, 23, 13, 0), utc(2026, 10, 26, 9, 0)
    assert business_seconds_between(before, after, TEAM) == 2 * 3600  # Fri 15-16, Mon 9-10


def _all_day_team(tmp_path: Path) -> Any:
    path = tmp_path / "hours.yaml"
    path.write_text(yaml.safe_dump({"teams": {"default": {
        "timezone": "Europe/Stockholm",
        "hours": {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                 "sun")},
    }}}), encoding="utf-8")
    return load_business_hours(path).team()


def test_dst_days_are_23_and_25_hours_long(tmp_path: Path) -> None:
    team = _all_day_team(tmp_path)
    spring = business_seconds_between(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0), team)
    autumn = business_seconds_between(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0), team)
    assert (spring, autumn) == (23 * 3600, 25 * 3600)


def test_opening_shown_on_the_customers_clock_in_their_language() -> None:
    riga = Customer(locale="lv")
    text = wait_text(_ctx(utc(2026, 3, 28, 11, 0), "lv", riga))
    assert text == "kad sāksim darbu (pirmd., 30. marts 10:00)", "09:00 Stockholm = 10:00 Riga"
    assert wait_text(_ctx(utc(2026, 3, 25, 10, 0), "lv", riga)) == "parasti dažu minūšu laikā"


def test_customer_timezone_sources() -> None:
    settings = Settings(_env_file=None, default_timezone="Europe/London")  # type: ignore[call-arg]
    assert customer_timezone(Customer(locale="sv"), settings).key == "Europe/Stockholm"
    assert customer_timezone(Customer(locale="lv"), settings).key == "Europe/Riga"
    assert customer_timezone(Customer(locale="en"), settings).key == "Europe/London"
    chosen = Customer(locale="sv", timezone="America/New_York")
    assert customer_timezone(chosen, settings).key == "America/New_York"
    broken = Customer(locale="lv", timezone="Not/AZone")
    assert customer_timezone(broken, settings).key == "Europe/Riga"


def test_quiet_hours_and_next_send_time_across_dst() -> None:
    riga = Customer(locale="lv")
    late = utc(2026, 3, 28, 20, 30)  # 22:30 in Riga (UTC+2)
    assert is_quiet(late, riga) and not is_quiet(utc(2026, 3, 28, 12, 0), riga)
    assert next_send_time(late, riga) == utc(2026, 3, 29, 5, 0), "08:00 EEST (UTC+3)"
    stockholm = Customer(locale="sv")
    at_ten = next_send_time(utc(2026, 10, 24, 9, 0), stockholm, local_time=time(10, 0))
    assert at_ten == utc(2026, 10, 25, 9, 0), "10:00 CET after the autumn change"
    settings = Settings(_env_file=None, quiet_hours="20:00-07:00")  # type: ignore[call-arg]
    assert is_quiet(utc(2026, 6, 1, 18, 30), stockholm, settings)  # 20:30 CEST


def test_plurals_per_locale() -> None:
    assert t_plural("human_wait_hours", 1, "lv", when="x").endswith("pēc 1 stundas (x)")
    assert t_plural("human_wait_hours", 2, "lv", when="x").endswith("pēc 2 stundām (x)")
    assert t_plural("human_wait_hours", 21, "lv", when="x").endswith("pēc 21 stundas (x)")
    assert "om ungefär 1 timme" in t_plural("human_wait_hours", 1, "sv", when="x")
    assert "om ungefär 5 timmar" in t_plural("human_wait_hours", 5, "sv", when="x")
    assert "in about 1 hour (" in t_plural("human_wait_hours", 1, "en", when="x")


def test_format_datetime_per_locale() -> None:
    moment = utc(2026, 10, 25, 8, 0)
    assert format_datetime(moment, "en", "Europe/Stockholm") == "Sun, Oct 25, 09:00"
    assert format_datetime(moment, "lv", "Europe/Riga") == "svētd., 25. oktobris 10:00"
    assert format_datetime(moment, "sv", "Europe/Stockholm", "HH:mm") == "09:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(datetime(2026, 1, 1), "en")


@pytest.mark.parametrize(("content", "message"), [
    ("teams: {}", "at least one team"),
    ("teams: {support: {timezone: UTC}}", "called 'default'"),
    ("teams: {default: {timezone: Mars/Base}}", "IANA time zone"),
    ("teams: {default: {timezone: UTC, hours: {mon: '9-17'}}}", "hours.mon"),
    ("teams: {default: {timezone: UTC, hours: {mon: '17:00-09:00'}}}", "valid range"),
    ("teams: {default: {timezone: UTC, hours: {funday: '09:00-17:00'}}}", "unknown day"),
    ("teams: {default: {timezone: UTC, hours: {mon: '09:00-13:00,12:00-17:00'}}}", "overlap"),
    ("teams: {default: {timezone: UTC, holidays: ['2026-13-01']}}", "holidays"),
    ("teams: [", "cannot read"),
])
def test_bad_hours_file_is_a_clear_startup_error(tmp_path: Path, content: str,
                                                 message: str) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(HoursFileError, match=message):
        load_business_hours(path)
    with pytest.raises(ConfigError, match="CRMBOT_BUSINESS_HOURS_FILE"):
        load_settings(_env_file=None, business_hours_file=str(path))


def test_hours_file_setting_is_used(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text("teams:\n  default:\n    timezone: Europe/Riga\n    hours:\n"
                    "      sat: '10:00-14:00'\n", encoding="utf-8")
    settings = Settings(_env_file=None, business_hours_file=path)  # type: ignore[call-arg]
    team = hours_for(settings).team()
    assert next_open(utc(2026, 3, 25, 10, 0), team) == utc(2026, 3, 28, 8, 0)
    assert business_seconds_between(utc(2026, 3, 28, 0, 0), utc(2026, 3, 28, 0, 0),
                                    team) == 0.0
    assert wait_text(_ctx(utc(2026, 3, 28, 9, 0), "en", settings=settings)) == (
        "usually within a few minutes")
    with pytest.raises(ValueError, match="no team 'sales'"):
        hours_for(settings).team("sales")
