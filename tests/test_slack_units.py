"""Pure functions of the Slack desk: the reply marker, Slack text conversion, keywords, config."""

from __future__ import annotations

import pytest

from bot.channels.slack.text import escape, reply_text, to_plain
from bot.config import ConfigError, load_settings
from handlers.tickets.escalation import matched_keyword


@pytest.mark.parametrize(
    ("text", "relayed"),
    [
        ("!reply Hello there", "Hello there"),
        ("  !REPLY\nTwo\nlines", "Two\nlines"),
        ("!reply", ""),
        ("checking with the warehouse", None),
        ("!replay typo stays internal", None),
        ("!replyX no space", None),
        ("reply: not the marker", None),
        ("> !reply quoted", None),
        ("&gt;&gt; not a marker either", None),
    ],
)
def test_only_the_marker_relays(text: str, relayed: str | None) -> None:
    assert reply_text(text) == relayed


def test_slack_markup_becomes_plain_text() -> None:
    slack = ("!reply See <https://shop.example/orders|your orders> or <https://shop.example>, "
             "ask <@U123|anna> in <#C1|support>; 5 &lt; 6 &amp; <!here> done")
    assert reply_text(slack) == ("See your orders (https://shop.example/orders) or "
                                 "https://shop.example, ask @anna in #support; 5 < 6 &  done")
    assert to_plain("<mailto:a@b.test|a@b.test>") == "a@b.test"


def test_customer_text_cannot_ping_or_format_in_slack() -> None:
    assert escape("<!channel> hi <@U1> & <http://x|y>") == (
        "&lt;!channel&gt; hi &lt;@U1&gt; &amp; &lt;http://x|y&gt;")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("I want to CANCEL my order", "cancel"),
        ("this is a complaint.", "complaint"),
        ("cancellation policy?", None),
        ("nothing here", None),
    ],
)
def test_keywords_match_whole_words(text: str, found: str | None) -> None:
    assert matched_keyword(text, ("cancel", "complaint")) == found


def test_keyword_setting_is_split_and_normalised() -> None:
    settings = load_settings(_env_file=None, escalation_keywords=" Cancel, ,complaint,cancel ")
    assert settings.escalation_keyword_list == ("cancel", "complaint")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"slack_support_channel": "#support"}, "SUPPORT_CHANNEL must be a channel id"),
        ({"slack_oncall_group": "@oncall"}, "CRMBOT_SLACK_ONCALL_GROUP must be a user-group id"),
        ({"sla_unclaimed_minutes": 0}, "CRMBOT_SLA_UNCLAIMED_MINUTES"),
    ],
)
def test_bad_slack_settings_are_clear_errors(overrides: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"slack_bot_token": "xoxb-1", "slack_signing_secret": "s",
                                 "slack_support_channel": "C0123", **overrides}
    with pytest.raises(ConfigError, match=message):
        load_settings(_env_file=None, **values)
