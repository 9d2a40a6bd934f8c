"""Settings from CRMBOT_* environment variables and a ``.env`` file, validated at start-up.

A channel whose settings are only partly given is refused here, with a message naming what is
missing, so an operator never runs a half-working bot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SAMPLE_KB = Path(__file__).resolve().parent.parent / "knowledge" / "data" / "sample_kb.yaml"
#: Graph API base (WhatsApp Cloud API, Messenger); the version is appended unless the URL
#: ends in one (bot/channels/meta/graph.py).
GRAPH_API_URL = "https://graph.facebook.com"


class ConfigError(Exception):
    """The configuration cannot run a working bot; the message says what to fix."""


class Settings(BaseSettings):
    """Every setting of a crmbot deployment (docs/configuration.md describes each)."""

    model_config = SettingsConfigDict(
        env_prefix="CRMBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./data/crmbot.db"
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    default_locale: Literal["en", "sv", "lv"] = "en"
    kb_seed: Path | None = SAMPLE_KB
    admin_token: str | None = None
    match_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    match_wrong_cost: float = Field(default=4.0, ge=1.0, le=100.0)
    matcher: Literal["auto", "default", "lexical", "fused", "semantic"] = "auto"
    cache_dir: str = "./data/cache"
    max_message_chars: int = Field(default=4000, ge=100, le=100_000)
    handover_after_unanswered: int = Field(default=2, ge=0, le=100)

    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: str | None = None
    telegram_global_rate: int = Field(default=30, ge=0, le=1000)
    telegram_timeout: float = Field(default=10.0, gt=0, le=300)

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_support_channel: str | None = None
    slack_oncall_group: str | None = None
    slack_kb_admins: str = ""
    sla_unclaimed_minutes: int = Field(default=15, ge=1, le=10_080)
    sla_first_response_minutes: str = "urgent:30,high:60,normal:240,low:480"
    sla_resolution_minutes: str = "urgent:240,high:480,normal:1440,low:2880"
    sla_warn_percent: int = Field(default=80, ge=1, le=99)
    assign_rules: str = ""
    assign_mode: Literal["least_open", "round_robin"] = "least_open"
    escalation_keywords: str = ""

    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_api_url: str = GRAPH_API_URL
    whatsapp_templates: str = ""
    whatsapp_rate: int = Field(default=80, ge=0, le=1000)

    messenger_page_token: str | None = None
    messenger_app_secret: str | None = None
    messenger_verify_token: str | None = None
    messenger_api_url: str = GRAPH_API_URL
    messenger_human_agent: bool = False

    help_name: str = Field(default="Help center", min_length=1, max_length=100)
    help_logo_url: str | None = None
    help_accent: str = Field(default="#0b5394", pattern=r"^#[0-9A-Fa-f]{6}$")
    help_templates_dir: Path | None = None

    widget_secret: str | None = Field(default=None, min_length=16)
    widget_allowed_origins: str | None = None
    widget_rate_limit: str = "20/minute"
    widget_ip_rate_limit: str = "60/minute"
    intake_token: str | None = Field(default=None, min_length=16)
    intake_rate_limit: str = "120/minute"
    review_webhooks: str = ""

    csat_survey: str = "csat"
    csat_delay_minutes: int = Field(default=0, ge=0, le=10_080)
    quiet_hours: str = ""
    default_timezone: str = "Europe/Stockholm"
    survey_expire_hours: int = Field(default=72, ge=1, le=8_760)
    business_hours_file: Path | None = None

    report_assumed_hours: float = Field(default=24.0, gt=0, le=720)
    report_slack_channel: str | None = None
    report_locale: Literal["en", "sv", "lv"] | None = None
    report_slack_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    report_slack_time: str = "08:00"

    email_from: str | None = None
    email_message_id_domain: str | None = None
    email_inbound_token: str | None = Field(default=None, min_length=16)
    email_unsubscribe_secret: str | None = Field(default=None, min_length=16)
    smtp_listen_host: str = "127.0.0.1"
    smtp_listen_port: int | None = Field(default=None, ge=0, le=65535)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = Field(default=30.0, ge=0.1, le=600.0)
    email_max_bytes: int = Field(default=10_000_000, ge=1_000, le=100_000_000)
    email_max_attachments: int = Field(default=10, ge=0, le=100)
    email_max_attachment_bytes: int = Field(default=5_000_000, ge=0, le=100_000_000)
    email_rate_limit: str = "30/hour"
    callback_default_region: str | None = None

    redis_url: str | None = None
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    log_level: str = "INFO"

    @field_validator("kb_seed", mode="before")
    @classmethod
    def _no_seed_when_empty(cls, value: object) -> object:
        """CRMBOT_KB_SEED= (empty) means no seed, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _channels_complete(self) -> Settings:
        problems = list(self._telegram_problems()) + list(self._slack_problems())
        problems += self._web_problems()
        problems += self._email_problems()
        problems += self._meta_problems()
        problems += self._sla_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _surveys_valid(self) -> Settings:
        """CRMBOT_QUIET_HOURS like 21:00-08:00 and an IANA CRMBOT_DEFAULT_TIMEZONE."""
        from bot.timeofday import parse_quiet_hours, zone

        try:
            parse_quiet_hours(self.quiet_hours)
        except ValueError as exc:
            raise ValueError(f"CRMBOT_QUIET_HOURS: {exc}") from None
        if zone(self.default_timezone, None) is None:
            raise ValueError(
                f"CRMBOT_DEFAULT_TIMEZONE: unknown time zone {self.default_timezone!r} "
                "(use an IANA name like Europe/Stockholm)"
            )
        return self

    @model_validator(mode="after")
    def _report_schedule_valid(self) -> Settings:
        """The weekly Slack report needs Slack configured and a HH:MM time (bot/reports)."""
        from bot.timeofday import parse_time

        try:
            parse_time(self.report_slack_time)
        except ValueError as exc:
            raise ValueError(f"CRMBOT_REPORT_SLACK_TIME: {exc}") from None
        if self.report_slack_channel and not self.slack_bot_token:
            raise ValueError("CRMBOT_REPORT_SLACK_CHANNEL needs the Slack channel configured "
                             "(CRMBOT_SLACK_BOT_TOKEN and CRMBOT_SLACK_SIGNING_SECRET)")
        return self

    @model_validator(mode="after")
    def _business_hours_valid(self) -> Settings:
        """CRMBOT_BUSINESS_HOURS_FILE must parse (bot/hours.py); unset means the shipped sample."""
        from bot.hours import HoursFileError, hours_for

        try:
            hours_for(self)
        except HoursFileError as exc:
            raise ValueError(f"CRMBOT_BUSINESS_HOURS_FILE: {exc}") from None
        return self

    def _telegram_problems(self) -> list[str]:
        if not self.telegram_token:
            return []
        if self.telegram_mode == "webhook" and not self.telegram_webhook_secret:
            return [
                "CRMBOT_TELEGRAM_MODE=webhook needs CRMBOT_TELEGRAM_WEBHOOK_SECRET "
                "(1-256 characters of A-Z a-z 0-9 _ -)"
            ]
        secret = self.telegram_webhook_secret
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            return [
                "CRMBOT_TELEGRAM_WEBHOOK_SECRET may only use A-Z a-z 0-9 _ - "
                "(1-256 characters; Telegram refuses anything else)"
            ]
        return []

    def _slack_problems(self) -> list[str]:
        names = {
            "CRMBOT_SLACK_BOT_TOKEN": self.slack_bot_token,
            "CRMBOT_SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "CRMBOT_SLACK_SUPPORT_CHANNEL": self.slack_support_channel,
        }
        given = [name for name, value in names.items() if value]
        if given and len(given) < len(names):
            missing = sorted(set(names) - set(given))
            return [f"the Slack desk is partly configured: set {', '.join(missing)} too"]
        return self._slack_id_problems()

    def _sla_problems(self) -> list[str]:
        from bot.sla import parse_targets

        problems = []
        for name, value in (("CRMBOT_SLA_FIRST_RESPONSE_MINUTES", self.sla_first_response_minutes),
                            ("CRMBOT_SLA_RESOLUTION_MINUTES", self.sla_resolution_minutes)):
            try:
                parse_targets(value, name)
            except ValueError as exc:
                problems.append(str(exc))
        return problems

    def _meta_problems(self) -> list[str]:
        """WhatsApp and Messenger need every one of their settings, or none."""
        problems = []
        for what, names in (
            ("WhatsApp", {"CRMBOT_WHATSAPP_TOKEN": self.whatsapp_token,
                          "CRMBOT_WHATSAPP_PHONE_NUMBER_ID": self.whatsapp_phone_number_id,
                          "CRMBOT_WHATSAPP_APP_SECRET": self.whatsapp_app_secret,
                          "CRMBOT_WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token}),
            ("Messenger", {"CRMBOT_MESSENGER_PAGE_TOKEN": self.messenger_page_token,
                           "CRMBOT_MESSENGER_APP_SECRET": self.messenger_app_secret,
                           "CRMBOT_MESSENGER_VERIFY_TOKEN": self.messenger_verify_token}),
        ):
            missing = sorted(name for name, value in names.items() if not value)
            if missing and len(missing) < len(names):
                problems.append(f"the {what} channel is partly configured: set "
                                f"{', '.join(missing)} too")
        return problems + _templates_problems(self.whatsapp_templates)

    def _slack_id_problems(self) -> list[str]:
        """Slack wants ids here, not names: '#support' or '@oncall' would fail at run time."""
        problems = []
        channel = self.slack_support_channel
        if channel and not re.fullmatch(r"[CG][A-Z0-9]{2,}", channel):
            problems.append(
                f"CRMBOT_SLACK_SUPPORT_CHANNEL must be a channel id like C0123ABCD, not {channel!r}"
            )
        group = self.slack_oncall_group
        if group and not re.fullmatch(r"S[A-Z0-9]{2,}", group):
            problems.append(
                f"CRMBOT_SLACK_ONCALL_GROUP must be a user-group id like S0123ABCD, not {group!r}"
            )
        return problems

    def _web_problems(self) -> list[str]:
        """Rate limits must parse ("20/minute"); origins must be scheme://host[:port]."""
        from limits import parse

        problems = []
        for name in ("widget_rate_limit", "widget_ip_rate_limit", "intake_rate_limit"):
            try:
                parse(getattr(self, name))
            except ValueError:
                problems.append(
                    f"CRMBOT_{name.upper()}: {getattr(self, name)!r} is not a rate like 20/minute"
                )
        for origin in self.widget_origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                problems.append(
                    f"CRMBOT_WIDGET_ALLOWED_ORIGINS: {origin!r} is not an origin like "
                    "https://shop.example (scheme and host, no path)"
                )
        return problems

    def _email_problems(self) -> list[str]:
        """E-mail needs a From address and an SMTP relay together; inbound needs both too."""
        from limits import parse

        problems = []
        inbound = self.smtp_listen_port is not None or self.email_inbound_token
        if (inbound or self.smtp_host) and not self.email_from:
            problems.append("the e-mail channel is partly configured: set CRMBOT_EMAIL_FROM too")
        if self.email_from and not self.smtp_host:
            problems.append("CRMBOT_EMAIL_FROM needs CRMBOT_SMTP_HOST (the relay that sends mail)")
        if self.email_from and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", self.email_from):
            problems.append(f"CRMBOT_EMAIL_FROM must be a bare address, not {self.email_from!r}")
        if bool(self.smtp_username) != bool(self.smtp_password):
            problems.append("set both CRMBOT_SMTP_USERNAME and CRMBOT_SMTP_PASSWORD, or neither")
        try:
            parse(self.email_rate_limit)
        except ValueError:
            problems.append(f"CRMBOT_EMAIL_RATE_LIMIT: {self.email_rate_limit!r} is not a rate "
                            "like 30/hour")
        return problems

    @property
    def cache_path(self) -> Path | None:
        """CRMBOT_CACHE_DIR as a path; None (caching off) when it is set empty."""
        return Path(self.cache_dir) if self.cache_dir.strip() else None

    @property
    def widget_origins(self) -> tuple[str, ...]:
        """Origins whose pages may open the widget (default: the public URL's origin)."""
        if self.widget_allowed_origins:
            raw = self.widget_allowed_origins.split(",")
            return tuple(o.strip().rstrip("/").lower() for o in raw if o.strip())
        from urllib.parse import urlsplit

        parts = urlsplit(self.public_url)
        return (f"{parts.scheme}://{parts.netloc}".lower(),)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def email_enabled(self) -> bool:
        return bool(self.email_from)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_token)

    @property
    def messenger_enabled(self) -> bool:
        return bool(self.messenger_page_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def escalation_keyword_list(self) -> tuple[str, ...]:
        """CRMBOT_ESCALATION_KEYWORDS split on commas, trimmed, lower-cased, blanks dropped."""
        words = (w.strip().casefold() for w in self.escalation_keywords.split(","))
        return tuple(dict.fromkeys(w for w in words if w))


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn pydantic's validation error into one readable ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            name = f"CRMBOT_{field.upper()}" if field else "configuration"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def whatsapp_templates(raw: str) -> dict[str, dict[str, str]]:
    """CRMBOT_WHATSAPP_TEMPLATES, {"reply"|"survey"|"announcement": {locale: template name}};
    ValueError says what is wrong. Settings validation and the WhatsApp channel both read it
    here."""
    if not raw.strip():
        return {}
    import json

    example = '{"announcement": {"en": "news_update"}}'
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"CRMBOT_WHATSAPP_TEMPLATES is not JSON ({exc}); example: "
                         f"{example}") from None
    purposes = ("reply", "survey", "announcement")
    if not isinstance(data, dict) or not all(
        key in purposes and isinstance(value, dict)
        and all(isinstance(n, str) and n for n in value.values())
        for key, value in data.items()
    ):
        raise ValueError(f"CRMBOT_WHATSAPP_TEMPLATES maps {'/'.join(purposes)} to {{locale: "
                         f"template name}}; example: {example}")
    return {str(k): {str(loc): str(name) for loc, name in v.items()} for k, v in data.items()}


def _templates_problems(raw: str) -> list[str]:
    try:
        whatsapp_templates(raw)
    except ValueError as exc:
        return [str(exc)]
    return []
