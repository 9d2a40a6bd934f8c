"""Survey definitions: data files (YAML or JSON) that admins write, validated all-or-nothing.

A survey is a list of questions of three kinds: ``scale`` (integers ``min``..``max``, e.g. 1-5
for CSAT or 0-10 for NPS), ``choice`` (``options`` with ids) and ``text`` (a free comment).
Every text is per locale (``en`` required; ``sv``, ``lv`` optional, English is the fallback).
A question with ``when`` is a follow-up: asked only if an earlier answer matches (``at_most``,
``at_least`` for scales, ``any_of`` for choices). ``alert`` says which answers open a ticket.
docs/surveys.md has a complete example.

Like the KB formats, a bad file raises :class:`SurveyFormatError` whose problems name the
field (``questions[1].max: ...``) and nothing is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LOCALES = ("en", "sv", "lv")
KINDS = ("scale", "choice", "text")
SURVEY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Question and option ids travel in button callback data ("sv:<run>:<q>:<value>", at most
# 64 bytes on Telegram), hence short.
SHORT_ID = re.compile(r"[a-z0-9_]{1,16}")
MAX_QUESTIONS = 20
MAX_OPTIONS = 10
BUILTIN_DIR = Path(__file__).resolve().parent / "data"

Texts = Mapping[str, str]


class SurveyFormatError(ValueError):
    """A survey definition that cannot be used; ``problems`` name each bad field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid survey definition:\n  " + "\n  ".join(problems))


def pick(texts: Texts, locale: str) -> str:
    """The text in ``locale``, else English."""
    return texts.get(locale) or texts["en"]


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    text: Texts


@dataclass(frozen=True, slots=True)
class Condition:
    """Ask a follow-up only when an earlier answer matches."""

    question: str
    at_most: int | None = None
    at_least: int | None = None
    any_of: tuple[str, ...] = ()

    def matches(self, value: int | None, text: str | None) -> bool:
        if self.any_of:
            return text in self.any_of
        if value is None:
            return False
        if self.at_most is not None and value > self.at_most:
            return False
        return self.at_least is None or value >= self.at_least


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: str
    text: Texts
    min: int = 1
    max: int = 5
    options: tuple[Option, ...] = ()
    when: Condition | None = None

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True, slots=True)
class Alert:
    """Open or reopen a ticket when ``question`` scores ``at_most`` (and, if asked, a comment)."""

    question: str
    at_most: int
    with_comment: bool = False


@dataclass(frozen=True, slots=True)
class Survey:
    id: str
    title: Texts
    questions: tuple[Question, ...]
    intro: Texts | None = None
    thanks: Texts | None = None
    alert: Alert | None = None

    def question(self, question_id: str | None) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def next_question(
        self, after: str | None, answers: Mapping[str, tuple[int | None, str | None]]
    ) -> Question | None:
        """The next question to ask after ``after`` (None: from the start), skipping
        follow-ups whose condition does not hold."""
        ids = [q.id for q in self.questions]
        start = ids.index(after) + 1 if after in ids else 0
        for question in self.questions[start:]:
            cond = question.when
            if cond is None or (cond.question in answers and cond.matches(*answers[cond.question])):
                return question
        return None

    @property
    def score_question(self) -> Question | None:
        """The first scale question: the survey's headline number (CSAT, NPS)."""
        return next((q for q in self.questions if q.kind == "scale"), None)


# -- validation -----------------------------------------------------------------------------


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def texts(self, value: Any, where: str, required: bool = True) -> Texts | None:
        if value is None and not required:
            return None
        if not isinstance(value, Mapping) or not value:
            self.bad(where, "must be a mapping of locale to text, e.g. {en: ..., sv: ..., lv: ...}")
            return None
        out: dict[str, str] = {}
        for locale, text in value.items():
            if locale not in LOCALES:
                self.bad(f"{where}.{locale}", f"unknown locale; use one of {LOCALES}")
            elif not isinstance(text, str) or not text.strip():
                self.bad(f"{where}.{locale}", "must be a non-empty text")
            else:
                out[str(locale)] = text.strip()
        if "en" not in value:
            self.bad(f"{where}.en", "missing (English is required: it is the fallback)")
        return out if "en" in out else None

    def integer(self, value: Any, where: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(where, f"must be a whole number, not {value!r}")
            return None
        return value

    def ident(self, value: Any, where: str, pattern: re.Pattern[str] = SHORT_ID) -> str | None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.bad(where, f"{value!r} is not a valid id (pattern {pattern.pattern})")
            return None
        return value


def parse(data: Any, source: str = "<survey>") -> Survey:
    """Validate one survey definition (already parsed from YAML/JSON)."""
    c = _Checker()
    if not isinstance(data, Mapping):
        raise SurveyFormatError(source, ["(top level): must be a mapping with id and questions"])
    known = {"id", "title", "intro", "thanks", "questions", "alert"}
    for key in data:
        if key not in known:
            c.bad(str(key), f"unknown field; allowed: {sorted(known)}")
    survey_id = c.ident(data.get("id"), "id", SURVEY_ID)
    title = c.texts(data.get("title"), "title")
    intro = c.texts(data.get("intro"), "intro", required=False)
    thanks = c.texts(data.get("thanks"), "thanks", required=False)
    questions = _questions(c, data.get("questions"))
    alert = _alert(c, data.get("alert"), questions)
    if c.problems or survey_id is None or title is None:
        raise SurveyFormatError(source, c.problems)
    return Survey(survey_id, title, tuple(questions), intro, thanks, alert)


def _questions(c: _Checker, raw: Any) -> list[Question]:
    if not isinstance(raw, list) or not raw:
        c.bad("questions", "must be a non-empty list")
        return []
    if len(raw) > MAX_QUESTIONS:
        c.bad("questions", f"at most {MAX_QUESTIONS} questions")
    out: list[Question] = []
    for i, item in enumerate(raw):
        question = _question(c, item, f"questions[{i}]", out)
        if question is not None:
            if any(q.id == question.id for q in out):
                c.bad(f"questions[{i}].id", f"duplicate question id {question.id!r}")
            out.append(question)
    return out


def _question(c: _Checker, raw: Any, where: str, earlier: list[Question]) -> Question | None:
    if not isinstance(raw, Mapping):
        c.bad(where, "must be a mapping with id, type and text")
        return None
    known = {"id", "type", "text", "min", "max", "options", "when"}
    for key in raw:
        if key not in known:
            c.bad(f"{where}.{key}", f"unknown field; allowed: {sorted(known)}")
    qid = c.ident(raw.get("id"), f"{where}.id")
    kind = raw.get("type")
    if kind not in KINDS:
        c.bad(f"{where}.type", f"must be one of {KINDS}, not {kind!r}")
    text = c.texts(raw.get("text"), f"{where}.text")
    low, high = 1, 5
    if kind == "scale":
        low, high = _scale(c, raw, where)
    options = _options(c, raw.get("options"), where) if kind == "choice" else ()
    if kind != "choice" and raw.get("options") is not None:
        c.bad(f"{where}.options", "only choice questions have options")
    when = _condition(c, raw.get("when"), f"{where}.when", earlier)
    if qid is None or kind not in KINDS or text is None:
        return None
    return Question(qid, str(kind), text, low, high, options, when)


def _scale(c: _Checker, raw: Mapping[str, Any], where: str) -> tuple[int, int]:
    low = c.integer(raw.get("min", 1), f"{where}.min")
    high = c.integer(raw.get("max", 5), f"{where}.max")
    if low is None or high is None:
        return 1, 5
    if low not in (0, 1):
        c.bad(f"{where}.min", f"must be 0 or 1, not {low}")
    if not 2 <= high <= 10 or high <= low:
        c.bad(f"{where}.max", f"must be 2..10 and above min, not {high}")
    return low, high


def _options(c: _Checker, raw: Any, where: str) -> tuple[Option, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        c.bad(f"{where}.options", "a choice question needs a list of at least 2 options")
        return ()
    if len(raw) > MAX_OPTIONS:
        c.bad(f"{where}.options", f"at most {MAX_OPTIONS} options")
    out: list[Option] = []
    for i, item in enumerate(raw):
        at = f"{where}.options[{i}]"
        if not isinstance(item, Mapping):
            c.bad(at, "must be a mapping with id and text")
            continue
        oid = c.ident(item.get("id"), f"{at}.id")
        text = c.texts(item.get("text"), f"{at}.text")
        if oid is not None and any(o.id == oid for o in out):
            c.bad(f"{at}.id", f"duplicate option id {oid!r}")
        elif oid is not None and text is not None:
            out.append(Option(oid, text))
    return tuple(out)


def _condition(
    c: _Checker, raw: Any, where: str, earlier: list[Question]
) -> Condition | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        c.bad(where, "must be a mapping like {question: score, at_most: 2}")
        return None
    target = next((q for q in earlier if q.id == raw.get("question")), None)
    if target is None:
        c.bad(f"{where}.question", f"{raw.get('question')!r} is not an earlier question's id")
        return None
    if target.kind == "choice":
        any_of = raw.get("any_of")
        if not isinstance(any_of, list) or not any_of:
            c.bad(f"{where}.any_of", "a follow-up on a choice needs a list of option ids")
            return None
        for oid in any_of:
            if target.option(str(oid)) is None:
                c.bad(f"{where}.any_of", f"{oid!r} is not an option of {target.id!r}")
        return Condition(target.id, any_of=tuple(str(o) for o in any_of))
    if target.kind != "scale":
        c.bad(f"{where}.question", f"{target.id!r} is free text; follow a scale or a choice")
        return None
    at_most = _bound(c, raw.get("at_most"), f"{where}.at_most", target)
    at_least = _bound(c, raw.get("at_least"), f"{where}.at_least", target)
    if at_most is None and at_least is None:
        c.bad(where, "give at_most and/or at_least")
        return None
    return Condition(target.id, at_most=at_most, at_least=at_least)


def _bound(c: _Checker, raw: Any, where: str, target: Question) -> int | None:
    if raw is None:
        return None
    value = c.integer(raw, where)
    if value is not None and not target.min <= value <= target.max:
        c.bad(where, f"{value} is outside {target.id!r}'s scale {target.min}..{target.max}")
    return value


def _alert(c: _Checker, raw: Any, questions: list[Question]) -> Alert | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        c.bad("alert", "must be a mapping like {question: score, at_most: 2}")
        return None
    target = next((q for q in questions if q.id == raw.get("question")), None)
    if target is None or target.kind != "scale":
        c.bad("alert.question", f"{raw.get('question')!r} is not a scale question of this survey")
        return None
    at_most = _bound(c, raw.get("at_most"), "alert.at_most", target)
    with_comment = raw.get("with_comment", False)
    if not isinstance(with_comment, bool):
        c.bad("alert.with_comment", "must be true or false")
        with_comment = False
    if with_comment and not any(q.kind == "text" for q in questions):
        c.bad("alert.with_comment", "the survey has no free-text question to comment in")
    if at_most is None:
        if raw.get("at_most") is None:
            c.bad("alert.at_most", "missing")
        return None
    return Alert(target.id, at_most, with_comment)


# -- files and JSON ---------------------------------------------------------------------------


def loads(text: str, source: str = "<survey>") -> Survey:
    """Parse YAML or JSON text (JSON is YAML) and validate it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SurveyFormatError(source, [f"(file): not valid YAML/JSON: {exc}"]) from None
    return parse(data, source)


def load_file(path: Path | str) -> Survey:
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise SurveyFormatError(str(path), ["(file): use a .yaml, .yml or .json file"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SurveyFormatError(str(path), [f"(file): not UTF-8 text: {exc}"]) from None
    return loads(text, str(path))


def to_data(survey: Survey) -> dict[str, Any]:
    """The definition as plain JSON data (what is stored; :func:`parse` reads it back)."""
    data: dict[str, Any] = {"id": survey.id, "title": dict(survey.title)}
    if survey.intro:
        data["intro"] = dict(survey.intro)
    if survey.thanks:
        data["thanks"] = dict(survey.thanks)
    data["questions"] = [_question_data(q) for q in survey.questions]
    if survey.alert:
        a = survey.alert
        data["alert"] = {"question": a.question, "at_most": a.at_most,
                         "with_comment": a.with_comment}
    return data


def _question_data(q: Question) -> dict[str, Any]:
    out: dict[str, Any] = {"id": q.id, "type": q.kind, "text": dict(q.text)}
    if q.kind == "scale":
        out.update(min=q.min, max=q.max)
    if q.options:
        out["options"] = [{"id": o.id, "text": dict(o.text)} for o in q.options]
    if q.when is not None:
        w = q.when
        cond: dict[str, Any] = {"question": w.question}
        if w.any_of:
            cond["any_of"] = list(w.any_of)
        if w.at_most is not None:
            cond["at_most"] = w.at_most
        if w.at_least is not None:
            cond["at_least"] = w.at_least
        out["when"] = cond
    return out


def dumps(survey: Survey) -> str:
    return json.dumps(to_data(survey), ensure_ascii=False, indent=2)


def builtins() -> dict[str, Survey]:
    """The surveys shipped with crmbot (csat, nps), from handlers/surveys/data/."""
    return {s.id: s for s in (load_file(p) for p in sorted(BUILTIN_DIR.glob("*.yaml")))}
