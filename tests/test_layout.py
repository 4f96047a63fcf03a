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


def test_public_api_is_declared_and_importable() -> None:
    import importlib

    for package in ("sim", "net"):
        mod = importlib.import_module(package)
        names = getattr(mod, "__all__", None)
        assert names, f"{package} has no __all__"
        missing = [n for n in names if not hasattr(mod, n)]
        assert missing == [], f"{package}.__all__ names missing attributes: {missing}"
        # Implementation lives in _private modules; the package only re-exports.
        public_modules = sorted(
            p.stem
            for p in (ROOT / package).glob("*.py")
            if not p.stem.startswith("_") and p.stem not in {"errors", "stackless", "client"}
        )
        assert public_modules == [], f"{package} has public implementation modules"
