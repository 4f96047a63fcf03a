"""The net package's public face: `__all__` is complete and importable, the sans-I/O
modules and the client never import `sim` (only the pump may), and the value limits they
check are sim's very objects (sim/_limits.py, loaded alone by net/_shared.py)."""

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


LIMITS = ["MAX_ABS_FLOAT", "MAX_DEPTH", "MAX_INT", "MAX_KEY_LEN", "MAX_NODES", "MAX_STR_LEN",
          "MIN_INT", "Movement"]


def test_the_value_limits_have_one_source() -> None:
    import net._protocol
    import net._values
    import sim
    from sim import _limits

    for name in LIMITS:
        assert getattr(net._values, name) is getattr(_limits, name), name
    for name in LIMITS[:-1]:
        assert getattr(sim, name) is getattr(_limits, name), name
    assert net._protocol.MAX_STR_LEN is _limits.MAX_STR_LEN
    assert net._protocol.MAX_ENTITY_FIELDS_NODES is sim.MAX_ENTITY_FIELDS_NODES
    assert net.Movement is sim.Movement
    # net loaded first, without sim: importing sim later reuses the module net loaded.
    code = ("import sys, net._values as v; loaded = 'sim' in sys.modules; import sim; "
            "from sim import _limits; print(loaded, v.limits is _limits, "
            f"all(getattr(v, n) is getattr(_limits, n) for n in {LIMITS!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=NET.parent)
    assert out.stdout.split() == ["False", "True", "True"]


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
