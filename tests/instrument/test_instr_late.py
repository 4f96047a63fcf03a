"""Late instrumentation: a module imported before the hook is rebuilt function by function from
its own source, in place, the first time one of its functions is bound to a tasklet."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import subprocess
import sys
import textwrap
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from sim import _preempt
from sim._preempt import instrument as _instrument
from sim._preempt import registry as _registry

WriteModule = Callable[..., ModuleType]

SAMPLE = '''
import functools

decorations = []

def deco(f):
    decorations.append(f.__name__)
    @functools.wraps(f)
    def wrapper(*a, **k):
        return ("wrapped", f(*a, **k))
    return wrapper

def spin(n):
    """Count to n."""
    i = 0
    while i < n:
        i += 1
    return i

class Base:
    def m(self):
        return "base"

class Thing(Base):
    __secret = 5

    def m(self):
        total = 0
        for k in range(4):
            if k == 2:
                continue
            total += k
        return super().m() + ":" + str(total) + ":" + str(self.__secret)

    @staticmethod
    def add(a, b=2, *, c=3):
        return a + b + c

    @classmethod
    def make(cls):
        return cls.__name__

    @property
    def prop(self):
        return self._p

    @prop.setter
    def prop(self, v):
        self._p = v * 10

    class Inner:
        def deep(self):
            return [i * i for i in range(4)]

def counter():
    n = 0
    def bump(by=1):
        nonlocal n
        n += by
        return n
    def peek():
        return n
    return bump, peek

bump, peek = counter()

@deco
def decorated(x):
    return x * 2

def gen(n):
    for i in range(n):
        yield i * 3

async def coro(x):
    total = 0
    for i in range(x):
        total += i
    return total

def results():
    t = Thing()
    t.prop = 4
    return [
        spin(7), t.m(), Thing.add(1), Thing.add(1, 1, c=1), Thing.make(), t.prop,
        Thing.Inner().deep(), decorated(5), list(gen(4)), bump(), bump(2), peek(),
    ]
'''


def instrumented(func: object) -> bool:
    code = getattr(func, "__code__", None)
    return isinstance(code, types.CodeType) and "__loom_b__" in code.co_names + tuple(
        n for c in code.co_consts if isinstance(c, types.CodeType) for n in c.co_names
    )


def registered(func: object) -> bool:
    """Runs a rebuilt code object (a leaf's has no check: see ``_rewrite.is_leaf``)."""
    code = getattr(func, "__code__", None)
    return id(code) in _registry.pairs


def test_every_function_and_method_is_rebuilt_in_place_with_identical_results(
    write_module: WriteModule,
) -> None:
    mod = write_module("late_sample", SAMPLE)
    plain_spin_code = mod.spin.__code__
    before = mod.results()
    before_stats = _instrument.statistics()
    assert _instrument.ensure_instrumented(mod.spin) is True
    after_stats = _instrument.statistics()
    assert mod.spin.__code__ is not plain_spin_code
    T = mod.Thing
    for f in (
        mod.spin,
        mod.deco,
        mod.counter,
        mod.bump,
        mod.peek,
        mod.decorated,
        mod.decorated.__wrapped__,
        mod.gen,
        mod.coro,
        mod.results,
        mod.Base.m,
        T.m,
        T.__dict__["add"].__func__,
        T.__dict__["make"].__func__,
        T.prop.fget,
        T.prop.fset,
        T.Inner.deep,
    ):
        assert registered(f), f.__qualname__
        leaf = f in (mod.bump, mod.peek, mod.Base.m)
        assert instrumented(f) is not leaf, f.__qualname__
    # bump's counter state restarted above is the same cell: compare the rest, then the cell
    after = mod.results()
    assert after[:-3] == before[:-3]
    assert (before[-3:], after[-3:]) == ([1, 3, 3], [4, 6, 6])
    assert asyncio.run(mod.coro(5)) == 10
    assert mod.decorations == ["decorated"]  # the decorator did not run again
    assert after_stats.modules_late == before_stats.modules_late + 1
    assert after_stats.functions_instrumented == before_stats.functions_instrumented + 17
    assert after_stats.functions_uninstrumentable == before_stats.functions_uninstrumentable


def test_metadata_and_source_survive(write_module: WriteModule) -> None:
    mod = write_module("late_meta", SAMPLE)
    src, qual, doc, defaults = (
        inspect.getsource(mod.spin),
        mod.Thing.m.__qualname__,
        mod.spin.__doc__,
        mod.Thing.add.__defaults__,
    )
    _instrument.ensure_instrumented(mod.Thing().m)
    assert inspect.getsource(mod.spin) == src
    assert (mod.Thing.m.__qualname__, mod.spin.__doc__) == (qual, doc)
    assert (mod.Thing.add.__defaults__, mod.Thing.add.__kwdefaults__) == (defaults, {"c": 3})
    assert mod.Thing.m.__code__.co_qualname == "Thing.m"
    assert mod.bump.__code__.co_qualname == "counter.<locals>.bump"
    assert mod.bump.__code__.co_freevars == ("n",)
    assert inspect.isgeneratorfunction(mod.gen) and inspect.iscoroutinefunction(mod.coro)


def test_tracebacks_keep_original_lines(write_module: WriteModule) -> None:
    mod = write_module("late_tb", "def f(xs):\n    for x in xs:\n        1 / x\n")
    assert _instrument.ensure_instrumented(mod.f)
    with pytest.raises(ZeroDivisionError) as info:
        mod.f([1, 0])
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno, last.line) == (mod.__file__, 3, "1 / x")


def test_checks_run_after_late_instrumentation(write_module: WriteModule, calls: list[int]) -> None:
    mod = write_module("late_calls", SAMPLE)
    _instrument.ensure_instrumented(mod.spin)
    _preempt.BUDGET.set(0)
    mod.spin(2)
    assert calls == [3, 2, 2]


def test_ensure_is_idempotent_and_unwraps_methods_partials_and_wrappers(
    write_module: WriteModule,
) -> None:
    mod = write_module("late_idem", SAMPLE)
    assert _instrument.ensure_instrumented(functools.partial(mod.spin, 3)) is True
    code, stats = mod.spin.__code__, _instrument.statistics()
    assert _instrument.ensure_instrumented(mod.spin) is True
    assert _instrument.ensure_instrumented(mod.Thing().m) is True
    assert _instrument.ensure_instrumented(mod.decorated) is True  # -> __wrapped__
    assert mod.spin.__code__ is code
    assert _instrument.statistics() == stats


def test_callable_objects_use_their_call_method(write_module: WriteModule) -> None:
    mod = write_module("late_callable", "class Job:\n    def __call__(self):\n        return 1\n")
    assert _instrument.ensure_instrumented(mod.Job()) is True
    assert instrumented(mod.Job.__call__)


def test_closures_sharing_a_code_reuse_one_rebuild_and_new_ones_are_born_instrumented(
    write_module: WriteModule,
) -> None:
    src = "def make(k):\n    def f(x):\n        return abs(x) + k\n    return f\n"
    mod = write_module("late_closure", src)
    one, two = mod.make(1), mod.make(2)  # made before instrumentation, not module globals
    stats = _instrument.statistics()
    assert _instrument.ensure_instrumented(one) is True
    assert _instrument.ensure_instrumented(two) is True
    assert one.__code__ is two.__code__
    assert _instrument.statistics().functions_instrumented == stats.functions_instrumented + 2
    three = mod.make(3)
    assert instrumented(three) and _instrument.ensure_instrumented(three)
    assert (one(10), two(10), three(10)) == (11, 12, 13)


def test_functions_naming_themselves_or_their_class_are_rebuilt(write_module: WriteModule) -> None:
    src = """
    import functools

    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    def twice(f):
        @functools.wraps(f)
        def wrapper(n):
            return f(n) * 2
        return wrapper

    @twice
    def down(n):
        return 0 if n == 0 else 1 + down(n - 1)

    class Node:
        def depth(self, n):
            return 0 if n == 0 else 1 + Node.depth(self, n - 1)

    def make():
        def inner(n):
            return 0 if n == 0 else inner(n - 1) - 1
        return inner

    inner = make()
    """
    mod = write_module("late_selfref", src)
    before = (mod.fact(5), mod.down(3), mod.Node().depth(4), mod.inner(3))
    stats = _instrument.statistics()
    assert _instrument.ensure_instrumented(mod.fact) is True
    for f in (mod.fact, mod.down.__wrapped__, mod.Node.depth, mod.inner):
        assert registered(f) and instrumented(f), f.__qualname__
    assert "fact" in mod.fact.__code__.co_names and mod.fact.__code__.co_freevars == ()
    assert mod.inner.__code__.co_freevars == ("inner",)
    assert [f.__code__.co_qualname for f in (mod.fact, mod.Node.depth, mod.inner)] == [
        "fact", "Node.depth", "make.<locals>.inner"]
    assert (mod.fact(5), mod.down(3), mod.Node().depth(4), mod.inner(3)) == before
    assert before == (120, 14, 4, -3)  # down(3) = (1 + (1 + (1 + 0) * 2) * 2) * 2
    assert _instrument.statistics().functions_uninstrumentable == stats.functions_uninstrumentable


def test_lambdas_are_counted_as_uninstrumentable(write_module: WriteModule) -> None:
    stats = _instrument.statistics()
    mod = write_module("late_lambda", "first = lambda: 1; second = lambda: 2\n")
    assert _instrument.ensure_instrumented(mod.first) is False
    assert _instrument.ensure_instrumented(mod.second) is False
    after = _instrument.statistics()
    assert after.functions_uninstrumentable == stats.functions_uninstrumentable + 2
    assert (mod.first(), mod.second()) == (1, 2)


def test_functions_without_source_are_counted_with_a_reason(write_module: WriteModule) -> None:
    mod = write_module("late_nosrc", "x = 1\n")
    exec("def ghost(n):\n    while n:\n        n -= 1\n    return 'gone'\n", mod.__dict__)
    stats = _instrument.statistics()
    assert _instrument.ensure_instrumented(mod.ghost) is False
    after = _instrument.statistics()
    assert after.functions_uninstrumentable == stats.functions_uninstrumentable + 1
    if len(stats.uninstrumentable_examples) < 8:
        assert "ghost: no source file (<string>)" in after.uninstrumentable_examples[-1]
    assert mod.ghost(3) == "gone"


def test_source_edited_after_import_is_refused(write_module: WriteModule) -> None:
    mod = write_module("late_edit", "def f():\n    return 1\n")
    Path(str(mod.__file__)).write_text("# moved down\n\ndef f():\n    return 2\n")
    code = mod.f.__code__
    assert _instrument.ensure_instrumented(mod.f) is False
    assert mod.f.__code__ is code and mod.f() == 1


def test_stdlib_and_kernel_functions_are_never_touched() -> None:
    code = json.dumps.__code__
    assert _instrument.ensure_instrumented(json.dumps) is False
    assert _instrument.ensure_instrumented(json.dumps) is False
    assert json.dumps.__code__ is code
    assert _instrument.ensure_instrumented(_instrument.statistics) is False
    assert _instrument.ensure_instrumented(len) is False
    assert _instrument.ensure_instrumented(pytest.raises) is False


def test_name_mangling_and_zero_argument_super_in_nested_classes(write_module: WriteModule) -> None:
    src = """
    def factory(tag):
        class A:
            def hello(self):
                return "A"
        class B(A):
            __hidden = "h"
            def hello(self):
                def inner():
                    return super(B, self).hello() + self.__hidden + tag
                return super().hello() + inner()
        return B
    B = factory("!")
    """
    mod = write_module("late_mangle", textwrap.dedent(src))
    before = mod.B().hello()
    assert _instrument.ensure_instrumented(mod.B.hello) is True
    assert instrumented(mod.B.hello)
    assert mod.B().hello() == before == "AAh!"
    assert mod.B.hello.__code__.co_freevars == ("B", "__class__", "tag")


def test_main_module_run_as_a_script(tmp_path: Path) -> None:
    script = tmp_path / "behaviour_script.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from sim._preempt import instrument as _instrument

        def behaviour(n):
            total = 0
            for i in range(n):
                total += i
            return total

        ok = _instrument.ensure_instrumented(behaviour)
        print(ok, "__loom_b__" in behaviour.__code__.co_names, behaviour(10))
        print(_instrument.statistics().modules_late)
    """)
    )
    root = str(Path(_instrument.__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, str(script), root], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.split() == ["True", "True", "45", "1"]


def test_assert_rewritten_test_modules_can_be_instrumented(tmp_path: Path) -> None:
    (tmp_path / "test_behaviour_under_pytest.py").write_text(
        textwrap.dedent("""
        from sim._preempt import instrument as _instrument

        def helper(xs):
            total = 0
            for x in xs:
                assert x >= 0, x
                total += x
            return total

        def test_it():
            assert _instrument.ensure_instrumented(helper)
            assert "__loom_b__" in helper.__code__.co_names
            assert helper([1, 2]) == 3
            try:
                helper([1, -1])
            except AssertionError as exc:
                assert "assert -1 >= 0" in str(exc), str(exc)  # pytest's introspection kept
            else:
                raise RuntimeError("no assertion")
            assert _instrument.statistics().functions_uninstrumentable == 0
    """)
    )
    root = str(Path(_instrument.__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_dataclass_generated_methods_count_as_sourceless(write_module: WriteModule) -> None:
    src = """
    import dataclasses

    @dataclasses.dataclass
    class P:
        x: int = 0

        def f(self):
            return self.x
    """
    mod = write_module("late_dc", src)
    stats = _instrument.statistics()
    assert _instrument.ensure_instrumented(mod.P(3).f) is True
    assert mod.P(3).f() == 3 and mod.P(1) == mod.P(1)
    # __init__/__repr__/__eq__ are exec'd from strings: counted, not instrumented, still working
    assert _instrument.statistics().functions_uninstrumentable > stats.functions_uninstrumentable
    assert "__loom_b__" not in mod.P.__init__.__code__.co_names


def test_late_instrumentation_logs_at_debug_in_words(
    write_module: WriteModule, caplog: pytest.LogCaptureFixture
) -> None:
    mod = write_module("late_log", "def f(n):\n    while n:\n        n -= 1\n    return n\n")
    with caplog.at_level(logging.DEBUG, logger="sim"):
        assert _instrument.ensure_instrumented(mod.f) is True
    mine = [r for r in caplog.records if mod.__name__ in r.getMessage()]
    assert [r.levelno for r in mine] == [logging.DEBUG]
    assert "1 of its 1 functions rebuilt from source" in mine[0].getMessage()


def test_sourceless_functions_with_a_loop_are_a_warning_once_each(
    write_module: WriteModule, caplog: pytest.LogCaptureFixture
) -> None:
    mod = write_module("late_exec", "x = 1\n")
    exec("def looping(n):\n    while n:\n        n -= 1\n    return n\n", mod.__dict__)
    exec("def squares(n):\n    return [i * i for i in range(n)]\n", mod.__dict__)
    exec("def straight(a):\n    return a + 1\n", mod.__dict__)
    stats = _instrument.statistics()
    with caplog.at_level(logging.DEBUG, logger="sim"):
        for _ in range(2):
            for name in ("looping", "squares", "straight"):
                assert _instrument.ensure_instrumented(getattr(mod, name)) is False
    mine = [r for r in caplog.records if mod.__name__ in r.getMessage()]
    warned = [r.getMessage() for r in mine if r.levelno == logging.WARNING]
    assert [w.split()[0] for w in warned] == [f"{mod.__name__}.looping", f"{mod.__name__}.squares"]
    assert "runs without preemption checks (no source file (<string>))" in warned[0]
    assert [r.levelno for r in mine if "straight" in r.getMessage()] == [logging.DEBUG]
    after = _instrument.statistics()
    assert after.functions_uninstrumentable == stats.functions_uninstrumentable + 3
    assert after.functions_unpreemptible == stats.functions_unpreemptible + 2
    assert (mod.looping(3), mod.squares(3), mod.straight(1)) == (0, [0, 1, 4], 2)
