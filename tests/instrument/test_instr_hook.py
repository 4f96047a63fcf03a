"""The import hook: modules under configured prefixes are rewritten at import; nothing else is."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim import _preempt
from sim._preempt import hook as _hook
from sim._preempt import instrument as _instrument
from sim._preempt import policy as _policy

BEHAVIOUR = '''"""A world module."""
from __future__ import annotations


def spin(n: int) -> int:
    """Count."""
    i = 0
    while i < n:
        i += 1
    return i


class Drone:
    def think(self, xs: list[int]) -> int:
        best = 0
        for x in xs:
            if x > best:
                best = x
        return best

    def crash(self) -> None:
        raise RuntimeError("boom")
'''


@pytest.fixture
def world(tmp_path: Path) -> Iterator[str]:
    """A package ``world_<id>`` with ``__init__`` and ``mobs`` on sys.path; yields its name."""
    name = f"world_{os.getpid()}_{id(tmp_path):x}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "def hello():\n    return 'hi'\n\n\ndef greet(who):\n    return hello() + ' ' + who\n"
    )
    (pkg / "mobs.py").write_text(BEHAVIOUR)
    (tmp_path / f"{name}_other.py").write_text("def spin(n):\n    while n:\n        n -= 1\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield name
    sys.path.remove(str(tmp_path))
    for mod in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[mod]


def test_modules_under_a_prefix_are_instrumented_at_import(world: str, calls: list[int]) -> None:
    stats = _instrument.statistics()
    _instrument.add_prefixes(world)
    mobs = importlib.import_module(f"{world}.mobs")
    pkg = sys.modules[world]
    for f in (pkg.greet, mobs.spin, mobs.Drone.think):
        assert "__loom_b__" in f.__code__.co_names, f
        assert _instrument.ensure_instrumented(f) is True
    # A leaf (no call, loop, ...) is rewritten without a check: it is bounded work.
    assert "__loom_b__" not in pkg.hello.__code__.co_names
    assert _instrument.ensure_instrumented(pkg.hello) is True
    after = _instrument.statistics()
    assert after.modules_hooked == stats.modules_hooked + 2
    assert after.functions_instrumented == stats.functions_instrumented + 5
    assert after.checks_inserted == stats.checks_inserted + 6  # greet, spin x2, think x2, crash
    assert (mobs.spin(5), mobs.Drone().think([3, 9, 2]), mobs.__doc__) == (5, 9, "A world module.")
    assert mobs.spin.__annotations__ == {"n": "int", "return": "int"}
    _preempt.BUDGET.set(0)
    mobs.spin(2)
    assert calls == [3, 2, 2]


def test_hooked_modules_keep_source_lines_and_write_no_bytecode(world: str) -> None:
    _instrument.add_prefixes(world)
    mobs = importlib.import_module(f"{world}.mobs")
    assert inspect.getsource(mobs.Drone.crash).startswith("    def crash(self)")
    with pytest.raises(RuntimeError) as info:
        mobs.Drone().crash()
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    line = BEHAVIOUR.splitlines().index('        raise RuntimeError("boom")') + 1
    assert (last.filename, last.lineno, line) == (mobs.__file__, line, 22)
    cache = Path(str(mobs.__file__)).parent / "__pycache__"
    assert not cache.exists() or not any(p.name.startswith("mobs.") for p in cache.iterdir())


def test_modules_outside_the_prefixes_are_left_alone(world: str) -> None:
    _instrument.add_prefixes(world + ".mobs")
    other = importlib.import_module(f"{world}_other")
    pkg = importlib.import_module(world)
    assert "__loom_b__" not in other.spin.__code__.co_names
    assert "__loom_b__" not in pkg.greet.__code__.co_names


def test_the_hook_leaves_meta_path_when_the_last_prefix_goes(world: str) -> None:
    finder = _hook.finder
    # World modules loaded by earlier tests (tests/world) leave their prefixes: this test is
    # about the last one going, so start from none.
    others = set(_policy.prefixes)
    _instrument.remove_prefixes(*others)
    _instrument.add_prefixes(world, world + "_x")
    assert sys.meta_path[0] is finder
    _instrument.remove_prefixes(world)
    assert finder in sys.meta_path
    _instrument.remove_prefixes(world + "_x")
    assert finder not in sys.meta_path
    assert "__loom_b__" not in importlib.import_module(f"{world}.mobs").spin.__code__.co_names
    _instrument.add_prefixes(*others)


@pytest.mark.parametrize(
    "prefix",
    [
        "sim",
        "sim._kernel",
        "net",
        "server",
        "json",
        "os.path",
        "greenlet",
        "_pytest",
        "pytest",
        "hypothesis",
        "pluggy",
        "",
        "not a name",
    ],
)
def test_kernel_library_and_stdlib_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        _instrument.add_prefixes(prefix)
    assert prefix not in _policy.prefixes


def test_a_world_inside_server_may_be_named() -> None:
    _instrument.add_prefixes("server.sandbox")
    assert _instrument.is_behaviour_module("server.sandbox", None)
    assert not _instrument.is_behaviour_module("server.tick", None)


def test_behaviour_is_decided_by_name_and_by_path() -> None:
    site_file = os.path.join(sysconfig.get_paths()["purelib"], "someworld", "mod.py")
    std_file = os.path.join(sysconfig.get_paths()["stdlib"], "somemod.py")
    assert _instrument.is_behaviour_module("json", json.__file__) is False
    assert _instrument.is_behaviour_module("mygame", std_file) is False
    assert _instrument.is_behaviour_module("someworld.mod", site_file) is False
    assert _instrument.is_behaviour_module("mygame.mobs", "/srv/game/mygame/mobs.py") is True
    assert _instrument.is_behaviour_module("__main__", "/srv/game/run.py") is True
    _instrument.add_prefixes("someworld")
    assert _instrument.is_behaviour_module("someworld.mod", site_file) is True
    assert _instrument.is_behaviour_module("someworld.mod", std_file) is False


def test_stdlib_imports_pass_through_the_hook(world: str) -> None:
    _instrument.add_prefixes(world)
    assert _hook.finder.find_spec("json", None) is None
    assert _hook.finder.find_spec("colorsys", None) is None
    sys.modules.pop("colorsys", None)
    colorsys = importlib.import_module("colorsys")
    assert "__loom_b__" not in colorsys.rgb_to_hsv.__code__.co_names


def test_hooked_code_also_runs_in_a_foreign_namespace(world: str) -> None:
    """``runpy`` runs ``loader.get_code()`` as ``__main__``: the cells come from builtins."""
    _instrument.add_prefixes(world)
    spec = importlib.util.find_spec(f"{world}.mobs")
    assert spec is not None and spec.loader is not None
    code = spec.loader.get_code(f"{world}.mobs")  # type: ignore[attr-defined]
    ns: dict[str, object] = {"__name__": "__main__"}
    exec(code, ns)
    assert ns["spin"](4) == 4  # type: ignore[operator]
