"""Configuration: defaults work; a half-configured channel is a clear start-up error."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_need_nothing() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert not settings.telegram_enabled and not settings.slack_enabled


def test_partial_slack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMBOT_SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert "CRMBOT_SLACK_SIGNING_SECRET" in str(err.value)
    assert "CRMBOT_SLACK_SUPPORT_CHANNEL" in str(err.value)


def test_telegram_webhook_needs_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMBOT_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("CRMBOT_TELEGRAM_MODE", "webhook")
    with pytest.raises(ConfigError, match="CRMBOT_TELEGRAM_WEBHOOK_SECRET"):
        load_settings(_env_file=None)


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMBOT_HTTP_PORT", "eighty")
    monkeypatch.setenv("CRMBOT_DEFAULT_LOCALE", "de")
    monkeypatch.setenv("CRMBOT_TELEGRAM_TIMEOUT", "0")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert "CRMBOT_HTTP_PORT" in str(err.value) and "CRMBOT_DEFAULT_LOCALE" in str(err.value)
    assert "CRMBOT_TELEGRAM_TIMEOUT" in str(err.value)


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("CRMBOT_HTTP_PORT=9091\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().http_port == 9091


def test_an_empty_kb_seed_means_no_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/configuration.md: "empty to start with no KB" (it was read as the directory ".")."""
    monkeypatch.setenv("CRMBOT_KB_SEED", "")
    assert load_settings().kb_seed is None
    monkeypatch.setenv("CRMBOT_KB_SEED", "  ")
    assert load_settings().kb_seed is None
