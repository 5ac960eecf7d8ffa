"""One import direction: the pages (ui/) use the API's services, web/ assembles both, and nothing in api/
reaches into the pages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_in_api_imports_the_pages_or_the_app() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imported(p) if m.split(".")[0] in ("ui", "web"))
        for p in sorted((ROOT / "api").rglob("*.py"))
    }
    assert {p: m for p, m in offenders.items() if m} == {}


def test_nothing_in_ui_imports_the_app() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imported(p) if m.split(".")[0] == "web")
        for p in sorted((ROOT / "ui").rglob("*.py"))
    }
    assert {p: m for p, m in offenders.items() if m} == {}
