"""The shape of data the database can store, checked once where data enters.

Every way in (webhooks, the widget socket, the intake and REST APIs, Slack payloads, e-mail,
KB files, CLI arguments) passes what it receives through these functions, so that nothing
the database would refuse half-way through a transaction is ever accepted:

- text is valid Unicode without NUL: a lone surrogate (``"\\ud800"``, which JSON's ``\\ud800``
  escape produces and UTF-8 cannot encode) or a NUL (refused by PostgreSQL text and JSON)
  becomes U+FFFD, everywhere, keys included;
- JSON is parsed with a size and a nesting limit: a document nested deeper than Python's
  recursion limit raises ``RecursionError`` in :func:`json.loads` and in every recursive walk
  after it, so it is refused before anything walks it;
- integers that become database ids are range-checked against BIGINT (``2**63 - 1``):
  a larger one raises ``OverflowError`` in the database driver.

Each refusal is a :class:`BadInput` with a short, user-readable reason; the HTTP edge maps it to
a 4xx in the API's one error shape.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

MAX_DEPTH = 64
MAX_JSON_BYTES = 1_000_000
BIGINT_MAX = 2**63 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadInput(ValueError):
    """Input refused at the edge; ``code`` is a stable machine-readable reason."""

    def __init__(
        self, message: str, code: str = "bad_request", status: int = 400, *,
        field: str | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.field = field
        self.headers = headers


def clean_text(text: str) -> str:
    """``text`` with lone surrogates and NUL replaced by U+FFFD (every other character kept)."""
    return _UNSTORABLE.sub("\ufffd", text)


def clean(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """A JSON-like value with every string (keys too) cleaned; tuples become lists.

    Iterative over containers up to ``max_depth`` (deeper raises :class:`BadInput`), so a
    hostile structure cannot exhaust the stack here."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, (dict, list, tuple)):
        return value
    return _clean_container(value, max_depth)


def _clean_container(value: dict[Any, Any] | list[Any] | tuple[Any, ...], max_depth: int) -> Any:
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any, int]] = [(value, root, 1)]
    while stack:
        source, target, depth = stack.pop()
        if depth > max_depth:
            raise BadInput(f"nested deeper than {max_depth} levels", "too_deep")
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, (dict, list, tuple)):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child, depth + 1))
            else:
                child = clean_text(item) if isinstance(item, str) else item
            if isinstance(target, dict):
                target[clean_text(key) if isinstance(key, str) else key] = child
            else:
                target.append(child)
    return root


def loads(
    data: bytes | str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse JSON from an untrusted source: size, encoding and depth checked, text cleaned."""
    if len(data) > max_bytes:
        raise BadInput(f"body larger than {max_bytes} bytes", "too_large", 413)
    try:
        value = json.loads(data)
    except RecursionError as exc:  # the C parser stops cleanly at the recursion limit
        raise BadInput(f"JSON nested deeper than {max_depth} levels", "too_deep") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"malformed JSON: {_short(exc)}", "malformed_json") from exc
    return clean(value, max_depth=max_depth)


def _short(exc: BaseException) -> str:
    return clean_text(str(exc))[:200]


def db_id(value: Any, what: str = "id") -> int:
    """A positive integer that fits the database's BIGINT ids, from a path segment, a CLI
    argument or a JSON value; anything else is a :class:`BadInput` naming ``what``."""
    if isinstance(value, bool):
        raise BadInput(f"{what} must be a positive integer", "bad_id")
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            raise BadInput(f"{what} must be a positive integer below 2^63", "bad_id")
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= BIGINT_MAX:
        raise BadInput(f"{what} must be a positive integer below 2^63", "bad_id")
    return value


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a credential from a header with the configured one.

    aiohttp decodes header bytes that are not UTF-8 with ``surrogateescape``; encoding them the
    same way back compares the bytes that were sent instead of raising (a 500 before
    authentication)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
