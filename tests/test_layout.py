"""The import rules of the layout (docs/architecture.md, "Layout"), late imports included.

- storage/ and knowledge/ import nothing above them (each other only);
- the runtime (bot/, but channels, web surfaces and the composition root) imports no feature,
  channel or web module;
- features (handlers/) import no channel or web module, except a feature's own surfaces
  (its ``api``, ``web`` and ``tool`` modules or packages: REST routes, admin pages, server
  wiring, CLI), which may use the web layer's helpers;
- channels (bot/channels/) import no feature or web module;
- only the composition root (bot/app.py, bot/compose.py, bot/cli.py, the CLI tools
  bot/*tool.py, bot/workers.py, bot/chat.py) knows everything;
- features import each other in one direction only: no circle among handlers/ modules
  (a package counts as one feature), late imports included. Features that must react to each
  other use the dispatcher's events (``Router.on``), e.g. "ticket_resolved" -> surveys;
- each feature is one package under handlers/ (no loose modules beside them);
- channels enter only through ``Core.ingest``: no channel imports the inbox (storage.inbox) or
  the staff-event entry (``storage.tickets.ingest_staff``), and the only callers of the latter
  are the core;
- the desk port (bot/desk.py) is neutral: it imports no handler context, session or model, so
  a desk cannot run SQL inside a handler's transaction;
- migrations import nothing of the application.

:data:`KNOWN` would list an import that still breaks a rule, with the reason it is there; it is
empty since issue 29's layout step. The test fails on any forbidden import, and on a KNOWN entry
that no longer occurs, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "knowledge", "storage")
ROOT_MODULES = {"bot.app", "bot.compose", "bot.cli", "bot.workers", "bot.chat"}

#: (importing module, imported module) pairs that still break a rule: the debt of issue 29.
KNOWN: dict[tuple[str, str], str] = {}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in ("storage", "knowledge"):
        return "base"
    if parts[0] == "handlers":
        surface = any(part in ("api", "web", "tool") for part in parts[2:])
        return "surface" if surface else "feature"
    if parts[0] != "bot":
        return None
    if module in ROOT_MODULES or (len(parts) == 2 and parts[1].endswith("tool")
                                  and parts[1] != "dbtool"):
        return "root"
    if len(parts) > 1 and parts[1] == "channels":
        return "channel"
    if len(parts) > 1 and parts[1] in ("web", "api"):
        return "web"
    return "runtime"


FORBIDDEN = {
    "base": {"runtime", "feature", "channel", "web", "root"},
    "runtime": {"feature", "channel", "web", "root"},
    "feature": {"channel", "web", "root"},
    "surface": {"channel", "root"},
    "channel": {"feature", "web", "root"},
    "web": {"root"},
}


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path


def imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def violations() -> set[tuple[str, str]]:
    found = set()
    for name, path in modules():
        source = layer(name)
        for target in imports(path):
            dest = layer(target)
            if source and dest and dest in FORBIDDEN.get(source, set()):
                found.add((name, target))
    return found


def test_no_import_breaks_the_layout() -> None:
    found = violations()
    new = sorted(found - set(KNOWN))
    assert new == [], "forbidden imports (docs/architecture.md, Layout):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in new)


def test_the_known_exceptions_still_exist() -> None:
    gone = sorted(set(KNOWN) - violations())
    assert gone == [], f"fixed, remove from KNOWN: {gone}"


def feature(module: str) -> str | None:
    """handlers.surveys.router -> handlers.surveys; the handlers package itself is no feature
    (its default_routers() is for the composition root)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "handlers" and len(parts) > 1 else None


def feature_graph() -> dict[str, set[str]]:
    known = {name for name, _ in modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules():
        source = feature(name)
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [t for t in subs if t in known] or [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                dest = feature(target)
                if dest and dest != source:
                    graph.setdefault(source, set()).add(dest)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle (as a path that returns to its start), or [] when there is none."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}}) == []


def test_features_import_each_other_in_one_direction() -> None:
    graph = feature_graph()
    assert "handlers.tickets" in graph["handlers.surveys"]  # the graph sees real imports
    found = cycle(graph)
    assert found == [], "import circle between features: " + " -> ".join(found)


def _imported_names(path: Path) -> set[str]:
    """Modules and ``module.name`` pairs a file imports, late imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_channels_enter_only_through_core_ingest() -> None:
    entries = {"storage.inbox", "storage.tickets.ingest_staff"}
    found = {(name, entry) for name, path in modules() if layer(name) == "channel"
             for entry in _imported_names(path) & entries}
    assert found == set(), f"channels storing events around Core.ingest: {sorted(found)}"
    callers = {name for name, path in modules()
               if "ingest_staff" in path.read_text("utf-8") and name != "storage.tickets"}
    assert callers == {"bot.core"}, callers


def test_the_desk_port_is_neutral() -> None:
    imported = _imported_names(ROOT / "bot" / "desk.py")
    assert not {m for m in imported if m.startswith(("bot.context", "sqlalchemy", "storage"))}, (
        imported)


def test_each_feature_is_a_package() -> None:
    loose = sorted(p.name for p in (ROOT / "handlers").glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"feature modules outside a package: {loose}"


def test_migrations_import_nothing_of_the_application() -> None:
    own = ("bot", "handlers", "knowledge", "storage")
    found = {(name, m) for name, path in modules() if name.startswith("storage.migrations.versions")
             for m in _imported_names(path) if m.split(".")[0] in own}
    assert found == set(), sorted(found)
