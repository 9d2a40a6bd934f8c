"""Knowledge-base files: YAML, JSON, JSONL and CSV with the same fields per entry.

Validation is all-or-nothing: a file with any bad row raises :class:`KBFormatError` listing every
problem with its line and field, and nothing is imported. CSV keeps list fields in one cell,
separated by ``|``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from knowledge.entries import KBEntry
from storage.clean import clean

FORMATS = ("yaml", "json", "jsonl", "csv")
CSV_FIELDS = ("id", "locale", "question", "phrasings", "answer", "tags", "enabled",
              "public")
LIST_SEP = "|"
MAX_FILE_BYTES = 50 * 1024 * 1024


class KBFormatError(ValueError):
    """A knowledge-base file that cannot be imported; ``problems`` name line and field."""

    def __init__(self, source: str, problems: list[str], outcome: str = "nothing imported") -> None:
        self.source = source
        self.problems = problems
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__(f"{source}: {outcome}:\n  " + "\n  ".join(shown))


def detect_format(path: Path | str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"yml": "yaml"}.get(suffix, suffix)
    if fmt not in FORMATS:
        raise KBFormatError(str(path), [f"unknown file type '.{suffix}'; use one of {FORMATS}"])
    return fmt


def load_file(path: Path | str, fmt: str | None = None) -> list[KBEntry]:
    """Read and validate a whole KB file."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KBFormatError(str(path), [f"file larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KBFormatError(str(path), [f"not UTF-8 text: {exc}"]) from None
    return loads(text, fmt or detect_format(path), source=str(path))


def loads(text: str, fmt: str, source: str = "<input>") -> list[KBEntry]:
    """Parse and validate KB text in ``fmt``; raise KBFormatError listing every bad row."""
    readers = {"yaml": _yaml_rows, "json": _json_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}
    if fmt not in readers:
        raise KBFormatError(source, [f"unknown format '{fmt}'; use one of {FORMATS}"])
    problems: list[str] = []
    entries: list[KBEntry] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        # lone surrogates and NUL (JSON escapes can carry both) become U+FFFD: storable
        rows = [(line, row if isinstance(row, _BadRow) else clean(row))
                for line, row in readers[fmt](text)]
    except ValueError as exc:
        raise KBFormatError(source, [str(exc)]) from None
    except RecursionError:
        raise KBFormatError(source, ["nesting too deep to be a knowledge-base file"]) from None
    for line, row in rows:
        entry = _validate(line, row, problems)
        if entry is None:
            continue
        if entry.key in seen:
            problems.append(
                f"line {line}: duplicate entry id={entry.id!r} locale={entry.locale!r} "
                f"(first at line {seen[entry.key]})"
            )
            continue
        seen[entry.key] = line
        entries.append(entry)
    if problems:
        raise KBFormatError(source, problems)
    return entries


#: pydantic's wording for people who write KB files, not Python ("a valid tuple").
PLAIN_MESSAGES = {
    "tuple_type": "must be a list of strings",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "missing": "is required",
    "extra_forbidden": "is not a knowledge-base field (id, locale, question, phrasings, "
                       "answer, tags, enabled, public)",
}


class _BadRow(str):
    """A row that could not even be parsed; the text says why (reported with the others)."""


def _validate(line: int, row: Any, problems: list[str]) -> KBEntry | None:
    if isinstance(row, _BadRow):
        problems.append(f"line {line}: {row}")
        return None
    if not isinstance(row, dict):
        problems.append(f"line {line}: expected an object with entry fields, got {_kind(row)}")
        return None
    try:
        return KBEntry.model_validate(row)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "entry"
            message = PLAIN_MESSAGES.get(err["type"], err["msg"])
            problems.append(f"line {line}, field '{field}': {message}")
        return None


def _kind(value: Any) -> str:
    return type(value).__name__


# Not libyaml's CSafeLoader: deeply nested input overflows its C stack (a segfault, where the
# pure-Python loader raises RecursionError, which loads() turns into a clear error).
_YAMLLoader = yaml.SafeLoader


def _yaml_rows(text: str) -> Iterator[tuple[int, Any]]:
    """Each entry with its line: compose the node tree once, construct entry by entry."""
    try:
        loader = _YAMLLoader(text)  # the reader refuses control characters right here
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from None
    try:
        if root is None:
            return
        if isinstance(root, yaml.MappingNode):
            root = next((v for k, v in root.value if k.value == "entries"), None)
        if not isinstance(root, yaml.SequenceNode):
            raise ValueError("line 1: expected a list of entries (or a mapping with 'entries:')")
        for node in root.value:
            try:
                data = loader.construct_document(node)
            except yaml.YAMLError as exc:
                raise ValueError(f"line {node.start_mark.line + 1}: invalid YAML: {exc}") from None
            yield node.start_mark.line + 1, data
    finally:
        loader.dispose()


def _json_rows(text: str) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if isinstance(data, dict):
        data = data.get("entries")
    if not isinstance(data, list):
        raise ValueError("line 1: expected a JSON list of entries (or {\"entries\": [...]})")
    yield from zip(_json_element_lines(text), data, strict=False)


def _json_element_lines(text: str) -> Iterator[int]:
    """Line numbers of the top-level array's elements (the json module does not give them)."""
    decoder = json.JSONDecoder()
    start = text.index("[")
    if text.lstrip().startswith("{"):
        start = text.index("[", text.index('"entries"'))
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        yield text.count("\n", 0, pos) + 1
        _, pos = decoder.raw_decode(text, pos)


def _jsonl_rows(text: str) -> Iterator[tuple[int, Any]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, _BadRow(f"invalid JSON: {exc.msg}")
        except RecursionError:
            yield number, _BadRow("nesting too deep")


def _csv_rows(text: str) -> Iterator[tuple[int, Any]]:
    try:
        yield from _csv_dict_rows(text)
    except csv.Error as exc:
        raise ValueError(f"invalid CSV: {exc}") from None


def _csv_dict_rows(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [f for f in ("id", "locale", "question", "answer") if f not in header]
    if missing:
        raise ValueError(f"line 1: CSV header lacks column(s) {', '.join(missing)}")
    unknown = [f for f in header if f not in CSV_FIELDS]
    if unknown:
        raise ValueError(f"line 1: unknown CSV column(s) {', '.join(unknown)}")
    for row in reader:
        yield reader.line_num, _csv_row(row)


def _csv_row(row: dict[Any, Any]) -> dict[str, Any]:
    if None in row:
        return {"__extra__": row[None]}
    out: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
    for key in ("phrasings", "tags"):
        if key in out:
            out[key] = [p.strip() for p in out[key].split(LIST_SEP) if p.strip()]
    for flag in ("enabled", "public"):
        if flag in out:
            out[flag] = out[flag].strip().lower() not in ("false", "0", "no", "")
    return out


def dumps(entries: Iterable[KBEntry], fmt: str) -> str:
    """Serialise entries; ``loads(dumps(e, f), f) == e`` for every format."""
    rows = [e.model_dump(mode="json") for e in entries]
    if fmt == "yaml":
        return yaml.safe_dump(rows, allow_unicode=True, sort_keys=False, width=100)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "csv":
        return _dump_csv(rows)
    raise KBFormatError("<output>", [f"unknown format '{fmt}'; use one of {FORMATS}"])


def _dump_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        for key in ("phrasings", "tags"):
            row[key] = LIST_SEP.join(row[key])
        for flag in ("enabled", "public"):
            row[flag] = "true" if row[flag] else "false"
        writer.writerow(row)
    return buf.getvalue()


def dump_file(entries: Iterable[KBEntry], path: Path | str, fmt: str | None = None) -> None:
    path = Path(path)
    path.write_text(dumps(entries, fmt or detect_format(path)), encoding="utf-8")
