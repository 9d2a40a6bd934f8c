"""evaluate(), load_queries() and lint() on tiny hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import evaluate as evaluate_module
from knowledge.entries import KBEntry
from knowledge.evaluate import EvalQuery, evaluate, format_report, load_queries
from knowledge.lint import lint
from knowledge.matcher import Candidate, MatchResult


class ScriptedMatcher:
    """Answers from a fixed table: text -> (best id or None, confident)."""

    threshold = 0.5

    def __init__(self, table: dict[str, tuple[str | None, bool]]) -> None:
        self._table = table

    def warm_up(self) -> None:
        """Nothing to load."""

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        best, confident = self._table[text]
        candidates = (Candidate(best, locale, 0.9 if confident else 0.2),) if best else ()
        return MatchResult(candidates, confident)


def test_evaluate_hand_computed() -> None:
    matcher = ScriptedMatcher({
        "a": ("x", True),    # in scope, right
        "b": ("y", True),    # in scope, wrong (expected x)
        "c": ("x", False),   # in scope, abstained (right guess, but not confident)
        "d": ("z", True),    # in scope, right
        "e": ("x", True),    # out of scope, answered
        "f": ("x", False),   # out of scope, abstained
        "g": (None, False),  # out of scope, nothing found
    })
    queries = [
        EvalQuery("a", "x", "en"), EvalQuery("b", "x", "en"), EvalQuery("c", "x", "en"),
        EvalQuery("d", "z", "en"), EvalQuery("e", None, "en"), EvalQuery("f", None, "en"),
        EvalQuery("g", None, "en"),
    ]
    result = evaluate(matcher, queries)
    assert result["n"] == 7
    assert result["accuracy"] == pytest.approx(2 / 4)
    assert result["top1_accuracy"] == pytest.approx(3 / 4)  # "c" guessed right, not confident
    assert result["answered_accuracy"] == pytest.approx(2 / 3)
    assert result["abstain_rate_in_scope"] == pytest.approx(1 / 4)
    assert result["oos_recall"] == pytest.approx(2 / 3)
    assert result["confused_pairs"] == [["x", "y", 1]]
    assert 0.0 <= result["latency_ms_p50"] <= result["latency_ms_p99"]
    report = format_report(result)
    assert "50.0 %" in report and "x -> y: 1" in report


def test_suggest_hit_rate_counts_only_what_the_bot_offers() -> None:
    """It counted the right entry among the top three, offered or not: on the small shops
    72 / 79 % while the customers were shown it for 39 / 33 % of the unsure questions."""

    class Ranked(ScriptedMatcher):
        def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
            scores = {"offered": (0.3, 0.1, 0.05), "too weak": (0.1, 0.05, 0.02),
                      "runner-up left out": (0.25, 0.005, 0.004)}[text]
            return MatchResult(tuple(Candidate(e, locale, s) for e, s in
                                     zip(("a", "b", "c"), scores, strict=True)), False)

    queries = [EvalQuery("offered", "b", "en"), EvalQuery("too weak", "b", "en"),
               EvalQuery("runner-up left out", "b", "en"), EvalQuery("offered", None, "en"),
               EvalQuery("too weak", None, "en")]
    result = evaluate(Ranked({}), queries)
    assert result["suggest_hit_rate"] == pytest.approx(1 / 3)
    assert result["suggest_top3_rate"] == pytest.approx(3 / 3)
    assert result["oos_suggest_rate"] == pytest.approx(1 / 2)
    assert "among the top three: 100.0 %" in format_report(result)


def test_evaluate_without_out_of_scope_queries() -> None:
    result = evaluate(ScriptedMatcher({"a": ("x", True)}), [EvalQuery("a", "x", "en")])
    assert result["oos_recall"] is None
    assert result["accuracy"] == 1.0 and result["confused_pairs"] == []
    assert "n/a" in format_report(result)


def test_load_queries_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"text": "where is my parcel", "expected": "where_is_my_order", "locale": "en"}\n'
        "\n"
        '{"text": "tell me a joke", "expected": null, "locale": "sv"}\n',
        encoding="utf-8",
    )
    assert load_queries(path) == [
        EvalQuery("where is my parcel", "where_is_my_order", "en"),
        EvalQuery("tell me a joke", None, "sv"),
    ]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: expected a JSON object"),
        ('{"expected": "x", "locale": "en"}', "line 2: field 'text'"),
        ('{"text": "  ", "expected": "x"}', "line 2: field 'text'"),
        ('{"text": "hi", "locale": "en"}', "line 2: field 'expected' is missing"),
        ('{"text": "hi", "expected": 5}', "line 2: field 'expected'"),
        ('{"text": "hi", "expected": "x", "locale": ""}', "line 2: field 'locale'"),
    ],
)
def test_load_queries_names_bad_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "ok", "expected": null}\n' + bad_line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_queries(path)


def _entry(entry_id: str, question: str, *phrasings: str, locale: str = "en") -> KBEntry:
    return KBEntry(id=entry_id, locale=locale, question=question, phrasings=phrasings, answer="-")


def test_lint_flags_duplicates_and_thin_entries() -> None:
    warnings = lint([
        _entry("refund", "When do I get my refund?", "refund status", "money back"),
        _entry("refund_time", "When will I get my refund?", "refund timing", "how long refunds"),
        _entry("hours", "Opening hours", "when are you open"),
        _entry("refund", "När får jag pengarna tillbaka?", "återbetalning", "pengar", locale="sv"),
    ])
    assert len(warnings) == 2
    assert warnings[0].startswith("refund / refund_time [en]: near-duplicate")
    assert warnings[1].startswith("hours [en]: only 1 phrasing")


def test_lint_clean_kb_and_disabled_entries() -> None:
    disabled = KBEntry(id="x", locale="en", question="q", answer="-", enabled=False)
    assert lint([_entry("a", "Where is my order?", "track parcel", "order status"), disabled]) == []


def test_latency_mean_and_percentiles_come_from_each_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 28 sets its cost goal as a mean and a p99; each query's time is its own match."""
    clock = [0.0]
    monkeypatch.setattr(evaluate_module.time, "perf_counter", lambda: clock[0])

    class Timed(ScriptedMatcher):
        def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
            clock[0] += int(text) / 1000.0  # "7" takes 7 ms
            return super().match(text, locale, limit)

    texts = [str(n) for n in range(1, 11)]
    result = evaluate(Timed({t: ("x", True) for t in texts}),
                      [EvalQuery(t, "x", "en") for t in texts])
    assert result["latency_ms_mean"] == pytest.approx(5.5)
    assert result["latency_ms_p50"] == pytest.approx(5.0)
    assert result["latency_ms_p99"] == pytest.approx(10.0)
    assert "5.50 ms / 5.00 ms / 10.00 ms" in format_report(result)
