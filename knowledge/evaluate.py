"""Measuring a matcher on a labelled query file (`crmbot kb eval`).

Accuracy alone hides the question that matters in support: when the bot answers alone, is it
right, and does it keep quiet on questions the KB cannot answer? So the report separates
accuracy at the matcher's threshold (abstentions count as wrong), plain top-1 accuracy of the
best guess (``top1_accuracy``, confident or not), accuracy of the answers actually given, how
often in-scope questions were not answered, and recall on out-of-scope questions
(``expected: null``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.matcher import Matcher


@dataclass(frozen=True, slots=True)
class EvalQuery:
    """One labelled customer text; ``expected`` None means the KB should not answer it."""

    text: str
    expected: str | None
    locale: str


def load_queries(path: str | Path) -> list[EvalQuery]:
    """Read a JSONL query file; a bad line raises ValueError naming its number and field."""
    queries = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                queries.append(_parse_line(line, number))
    return queries


def _parse_line(line: str, number: int) -> EvalQuery:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {number}: expected a JSON object")
    text, expected, locale = row.get("text"), row.get("expected"), row.get("locale", "en")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"line {number}: field 'text' must be a non-empty string")
    if "expected" not in row:
        raise ValueError(f"line {number}: field 'expected' is missing (use null for out of scope)")
    if expected is not None and (not isinstance(expected, str) or not expected):
        raise ValueError(f"line {number}: field 'expected' must be an entry id or null")
    if not isinstance(locale, str) or not locale:
        raise ValueError(f"line {number}: field 'locale' must be a language code")
    return EvalQuery(text, expected, locale)


def evaluate(matcher: Matcher, queries: Sequence[EvalQuery]) -> dict[str, Any]:
    """Run every query through ``matcher`` and summarise accuracy, abstention and latency.

    Latency is each query's own match, after the matcher's one-time warm-up (the fused tiers
    load their encoder there): before, the first unsure question of a run carried the
    encoder's load, 0.2-0.7 s, into the p99 and the mean of a small set.
    """
    matcher.warm_up()
    latencies: list[float] = []
    in_scope = correct = top1 = answered = answered_right = oos = oos_abstained = 0
    suggested = suggested_right = top3_right = oos_suggested = 0
    confusions: Counter[tuple[str, str]] = Counter()
    for query in queries:
        started = time.perf_counter()
        result = matcher.match(query.text, query.locale)
        latencies.append((time.perf_counter() - started) * 1000.0)
        got = result.best.entry_id if result.confident and result.best else None
        if query.expected is None:
            oos += 1
            oos_abstained += got is None
            oos_suggested += got is None and bool(result.suggestions())
            continue
        in_scope += 1
        if got is not None:
            answered += 1
            answered_right += got == query.expected
        else:  # the customer is offered what the FAQ handler offers, if anything
            suggested += 1
            suggested_right += query.expected in {c.entry_id for c in result.suggestions()}
            top3_right += query.expected in {c.entry_id for c in result.candidates[:3]}
        correct += got == query.expected
        guess = result.best.entry_id if result.best else None
        top1 += guess == query.expected
        if guess is not None and guess != query.expected:
            confusions[(query.expected, guess)] += 1
    return {
        "n": len(queries),
        "n_in_scope": in_scope,
        "n_out_of_scope": oos,
        "accuracy": _ratio(correct, in_scope),
        "top1_accuracy": _ratio(top1, in_scope),
        "answered_accuracy": _ratio(answered_right, answered),
        "abstain_rate_in_scope": _ratio(in_scope - answered, in_scope),
        "suggest_hit_rate": _ratio(suggested_right, suggested),
        "suggest_top3_rate": _ratio(top3_right, suggested),
        "oos_recall": _ratio(oos_abstained, oos),
        "oos_suggest_rate": _ratio(oos_suggested, oos_abstained),
        "latency_ms_mean": sum(latencies) / len(latencies) if latencies else None,
        "latency_ms_p50": _percentile(latencies, 50),
        "latency_ms_p99": _percentile(latencies, 99),
        "confused_pairs": [[a, b, n] for (a, b), n in confusions.most_common(10)],
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest-rank percentile: the value below which ``pct`` % of the measurements fall."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def format_report(result: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`evaluate`'s result for the CLI."""

    def pct(key: str) -> str:
        value = result.get(key)
        return "n/a" if value is None else f"{100.0 * value:.1f} %"

    def ms(key: str) -> str:
        value = result.get(key)
        return "n/a" if value is None else f"{value:.2f} ms"

    lines = [
        f"queries: {result['n']} ({result.get('n_in_scope', '?')} in scope, "
        f"{result.get('n_out_of_scope', '?')} out of scope)",
        f"accuracy (abstentions wrong):       {pct('accuracy')}",
        f"top-1 accuracy (best guess):        {pct('top1_accuracy')}",
        f"accuracy of given answers:          {pct('answered_accuracy')}",
        f"in-scope questions not answered:    {pct('abstain_rate_in_scope')}",
        f"right entry among the suggestions:  {pct('suggest_hit_rate')} "
        f"(among the top three: {pct('suggest_top3_rate')})",
        f"out-of-scope questions abstained:   {pct('oos_recall')} "
        f"(offered suggestions: {pct('oos_suggest_rate')})",
        f"latency mean / p50 / p99:           {ms('latency_ms_mean')} / {ms('latency_ms_p50')} / "
        f"{ms('latency_ms_p99')}",
    ]
    pairs = result.get("confused_pairs") or []
    if pairs:
        lines.append("most confused (expected -> best guess: count):")
        lines += [f"  {expected} -> {got}: {count}" for expected, got, count in pairs]
    return "\n".join(lines)
