"""Assignment rules: which agents may get a new ticket, and when they are on shift.

CRMBOT_ASSIGN_RULES is a JSON list; the first rule whose filters all match the ticket decides::

    [{"agents": ["U0SV1", "U0SV2"], "locales": ["sv"], "team": "nordics"},
     {"agents": ["U0WA1"], "channels": ["whatsapp", "messenger"], "priorities": ["urgent"]},
     {"agents": ["U0AGENT1", "U0AGENT2", "U0AGENT3"]}]

``agents`` are desk user ids (Slack member ids); ``channels``, ``locales`` and ``priorities``
filter (absent = any); ``team`` names the business-hours team whose opening hours are the
rule's shift (default "default"): outside them nobody is assigned and the ticket waits to be
claimed, as without rules. CRMBOT_ASSIGN_MODE picks among the rule's agents: ``least_open``
(fewest open tickets, then whoever was assigned longest ago) or ``round_robin`` (whoever was
assigned longest ago).
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MODES = ("least_open", "round_robin")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: tuple[str, ...] = Field(min_length=1)
    channels: tuple[str, ...] | None = None
    locales: tuple[str, ...] | None = None
    priorities: tuple[str, ...] | None = None
    team: str = "default"

    def matches(self, channel: str, locale: str, priority: str) -> bool:
        return all(allowed is None or value in allowed for allowed, value in (
            (self.channels, channel), (self.locales, locale), (self.priorities, priority)))


_RULES = TypeAdapter(tuple[Rule, ...])


def parse_rules(raw: str) -> tuple[Rule, ...]:
    """The rules of CRMBOT_ASSIGN_RULES; ValueError says what is wrong, in the setting's terms."""
    if not raw.strip():
        return ()
    try:
        return _RULES.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        why = first["msg"] if first else str(exc)
        raise ValueError(f"CRMBOT_ASSIGN_RULES: {where + ': ' if where else ''}{why}; expected "
                         '[{"agents": ["U0AGENT1"], "locales": ["sv"]}, ...]') from None


def team_agents(rules: tuple[Rule, ...], team: str) -> tuple[str, ...]:
    """Every agent of the rules whose shift team is ``team`` (a transfer to a team), in order."""
    found: dict[str, None] = {}
    for rule in rules:
        if rule.team == team:
            found.update(dict.fromkeys(rule.agents))
    return tuple(found)


def first_match(rules: tuple[Rule, ...], channel: str, locale: str,
                priority: str) -> Rule | None:
    return next((r for r in rules if r.matches(channel, locale, priority)), None)
