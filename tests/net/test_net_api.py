"""The net package's public face: `__all__` is complete and importable, and the sans-I/O
modules and the client never import `sim` (only the pump may)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import net

NET = pathlib.Path(net.__file__).resolve().parent
SIM_FREE = ["errors.py", "_limits.py", "_framing.py", "_values.py", "_protocol.py", "client.py"]


def imports_of(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_sans_io_modules_and_client_do_not_import_sim() -> None:
    offenders = {name: imports_of(NET / name) & {"sim", "server", "greenlet"}
                 for name in SIM_FREE}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_client_import_does_not_load_sim() -> None:
    code = "import sys, net.client, net._protocol; print('sim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=NET.parent)
    assert out.stdout.strip() == "False"


def test_all_is_exported_and_unique() -> None:
    assert len(net.__all__) == len(set(net.__all__))
    missing = [name for name in net.__all__ if not hasattr(net, name)]
    assert missing == []
    public = {n for n in vars(net) if not n.startswith("_") and n[0].isupper()}
    assert public - set(net.__all__) - {"Any"} == set()


def test_every_error_has_one_root() -> None:
    errors = [getattr(net, n) for n in net.__all__
              if isinstance(getattr(net, n), type) and issubclass(getattr(net, n), Exception)]
    assert len(errors) >= 10
    assert all(issubclass(e, net.NetError) for e in errors)
