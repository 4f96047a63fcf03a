"""The package layout rules: imports point one way (server -> sim, net; never back)."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "sim": {"server", "net", "demos", "tools"},
    "net": {"server", "demos", "tools"},
    "server": {"demos", "tools"},
}


def imported_top_levels(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_import_direction() -> None:
    bad = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            hits = imported_top_levels(path) & forbidden
            if hits:
                bad.append(f"{path.relative_to(ROOT)} imports {sorted(hits)}")
    assert bad == []


def test_packages_exist() -> None:
    for package in ("sim", "net", "server", "demos", "tools"):
        assert (ROOT / package / "__init__.py").is_file(), package
