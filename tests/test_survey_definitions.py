"""Survey definitions, typed answers, NPS and quiet hours: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_settings
from handlers.surveys import answers
from handlers.surveys.definitions import (
    SurveyFormatError,
    builtins,
    load_file,
    loads,
    parse,
    to_data,
)
from handlers.surveys.results import nps
from handlers.surveys.schedule import parse_quiet_hours, send_time

DOCS = Path(__file__).resolve().parent.parent / "docs" / "surveys.md"


def _errors(text: str) -> list[str]:
    with pytest.raises(SurveyFormatError) as info:
        loads(text)
    return info.value.problems


def test_builtins_round_trip() -> None:
    found = builtins()
    assert set(found) == {"csat", "nps"}
    for survey in found.values():
        assert parse(to_data(survey)) == survey
    assert (found["nps"].questions[0].min, found["nps"].questions[0].max) == (0, 10)


def test_validation_names_every_bad_field() -> None:
    problems = _errors("""
id: Bad Id
title: {en: Hi, de: Hallo}
questions:
  - {id: score, type: scale, min: 1, max: 11, text: {en: Score}}
  - {id: pick, type: choice, text: {sv: Välj}, options: [{id: a, text: {en: A}}]}
  - {id: why, type: text, text: {en: Why}, when: {question: nope, at_most: 2}}
  - {id: score, type: stars, text: {en: again}}
alert: {question: why, at_most: 2}
""")
    joined = "\n".join(problems)
    for field in ("id:", "title.de:", "questions[0].max:", "questions[1].text.en:",
                  "questions[1].options:", "questions[2].when.question:",
                  "questions[3].type:", "alert.question:"):
        assert field in joined, (field, problems)


def test_validation_of_follow_ups_and_alert() -> None:
    problems = _errors("""
id: s
title: {en: S}
questions:
  - {id: score, type: scale, min: 0, max: 10, text: {en: Score}}
  - {id: why, type: text, text: {en: Why}, when: {question: score, at_most: 12}}
alert: {question: score, at_most: 6, with_comment: yes please}
""")
    assert problems == [
        "questions[1].when.at_most: 12 is outside 'score''s scale 0..10",
        "alert.with_comment: must be true or false",
    ]
    assert _errors("[1, 2]") == ["(top level): must be a mapping with id and questions"]
    assert _errors("id: x\ntitle: {en: X}\nquestions: []") == [
        "questions: must be a non-empty list"]
    assert _errors(": : :")[0].startswith("(file): not valid YAML/JSON")


def test_docs_example_is_valid(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "delivery.yaml"
    path.write_text(example, encoding="utf-8")
    survey = load_file(path)
    assert survey.id == "delivery" and survey.alert is not None
    assert {q.kind for q in survey.questions} == {"scale", "choice", "text"}


@pytest.mark.parametrize(("text", "value"), [
    ("5", 5), ("fem", 5), ("pieci", 5), ("Five!", 5), ("tio", 10), ("desmit", 10),
    ("septiņi", 7), ("noll", 0), ("8/10", 8), ("4 of 5", 4), ("3 av 5", 3),
])
def test_scores_typed_as_numbers_or_words(text: str, value: int) -> None:
    assert answers.number(text) == value


@pytest.mark.parametrize("text", ["How much is shipping?", "5 and 6", "fifty", ""])
def test_other_text_is_not_a_score(text: str) -> None:
    assert answers.number(text) is None


def test_nps_is_exact() -> None:
    # 5 promoters (9-10), 2 passives (7-8), 3 detractors (0-6) of 10 -> 50% - 30% = 20
    assert nps([10, 9, 9, 10, 9, 8, 7, 6, 0, 3]) == 20.0
    assert nps([6, 6, 7]) == pytest.approx(-200 / 3)
    assert nps([10]) == 100.0 and nps([0]) == -100.0 and nps([]) is None


def test_quiet_hours_move_the_send_time_to_the_morning() -> None:
    window = parse_quiet_hours("21:00-08:00")
    sthlm = ZoneInfo("Europe/Stockholm")
    evening = datetime(2026, 1, 15, 21, 30, tzinfo=sthlm).astimezone(UTC)
    due = send_time(evening, timedelta(0), window, sthlm)
    assert due.astimezone(sthlm) == datetime(2026, 1, 16, 8, 0, tzinfo=sthlm)
    early = datetime(2026, 1, 16, 6, 0, tzinfo=sthlm).astimezone(UTC)
    assert send_time(early, timedelta(0), window, sthlm).astimezone(sthlm).hour == 8
    noon = datetime(2026, 1, 16, 12, 0, tzinfo=UTC)
    assert send_time(noon, timedelta(minutes=30), window, sthlm) == noon + timedelta(minutes=30)
    tokyo = ZoneInfo("Asia/Tokyo")  # 12:00 UTC is 21:00 in Tokyo: wait for their morning
    assert send_time(noon, timedelta(0), window, tokyo).astimezone(tokyo).hour == 8
    assert send_time(noon, timedelta(0), None, tokyo) == noon
    day_window = parse_quiet_hours("12:00-13:00")
    assert send_time(noon, timedelta(0), day_window, ZoneInfo("UTC")) == noon + timedelta(hours=1)


@pytest.mark.parametrize(("env", "value", "message"), [
    ("CRMBOT_QUIET_HOURS", "9pm-8am", "CRMBOT_QUIET_HOURS"),
    ("CRMBOT_QUIET_HOURS", "25:00-08:00", "impossible time"),
    ("CRMBOT_DEFAULT_TIMEZONE", "Mars/Olympus", "CRMBOT_DEFAULT_TIMEZONE"),
])
def test_bad_survey_settings_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(_env_file=None)
