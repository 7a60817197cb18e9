"""Layering rules that keep the domain independent of Discord."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("discord", "bot", "cogs")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_discord_bot_or_cogs() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(_imports(p) & set(FORBIDDEN))
        for p in (REPO / "core").rglob("*.py")
        if _imports(p) & set(FORBIDDEN)
    }
    assert offenders == {}


def test_alpaca_is_imported_only_inside_its_adapter() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "core").rglob("*.py")
        if "alpaca" in _imports(p) and "brokers/alpaca" not in p.as_posix()
    ]
    assert offenders == []
