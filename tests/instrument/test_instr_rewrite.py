"""The rewrite itself: where checks go, what they weigh, and what must not change."""

from __future__ import annotations

import ast
import inspect
import textwrap
import traceback
import types

import pytest

from sim import _preempt
from sim._preempt import rewrite as _rewrite

DET, HARD = _preempt.DETERMINISTIC, _preempt.HARD


def rewritten(source: str, variant: str = DET) -> str:
    tree = ast.parse(textwrap.dedent(source))
    _rewrite.Inserter(variant).visit(tree)
    return ast.unparse(tree)


def expect(text: str) -> str:
    return ast.unparse(ast.parse(textwrap.dedent(text)))


def weights(source: str) -> list[int]:
    """The weights of the deterministic checks, in source order."""
    tree = ast.parse(textwrap.dedent(source))
    _rewrite.Inserter(DET).visit(tree)
    out: list[int] = []
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.AugAssign)
            and isinstance(n.value, ast.Constant)
            and isinstance(n.value.value, int)
            and isinstance(n.target, ast.Attribute)
            and getattr(n.target.value, "id", "") == "__loom_b__"
        ):
            out.append(n.value.value)
    return out


SAMPLE = '''
def f(n):
    """doc"""
    global g
    i = 0
    while i < n:
        if i % 2:
            i += 1
        else:
            i += 2
        for j in range(3):
            pass
    return i
'''


def test_deterministic_checks_sit_after_docstring_and_global_and_first_in_every_loop() -> None:
    assert rewritten(SAMPLE) == expect('''
        def f(n):
            """doc"""
            global g
            __loom_b__.n -= 3
            if __loom_b__.n < 0:
                __loom_p__(3)
            i = 0
            while i < n:
                __loom_b__.n -= 4
                if __loom_b__.n < 0:
                    __loom_p__(4)
                if i % 2:
                    i += 1
                else:
                    i += 2
                for j in range(3):
                    __loom_b__.n -= 2
                    if __loom_b__.n < 0:
                        __loom_p__(2)
                    pass
            return i
    ''')


def test_hard_checks_test_the_flag_with_the_same_weights() -> None:
    assert rewritten(SAMPLE, HARD) == expect('''
        def f(n):
            """doc"""
            global g
            if __loom_f__:
                __loom_p__(3)
            i = 0
            while i < n:
                if __loom_f__:
                    __loom_p__(4)
                if i % 2:
                    i += 1
                else:
                    i += 2
                for j in range(3):
                    if __loom_f__:
                        __loom_p__(2)
                    pass
            return i
    ''')


def test_weights_count_branches_of_try_with_match_but_not_nested_bodies() -> None:
    src = """
    def f(xs):
        for x in xs:
            try:
                a = 1
                b = 2
            except ValueError:
                c = 3
            else:
                d = 4
            finally:
                e = 5
            with open(x) as fh:
                fh.read()
            match x:
                case 1:
                    y = 1
                case _:
                    y = 2
                    z = 3
            def inner():
                p = 1
                q = 2
            while x:
                x -= 1
                x -= 1
    """
    # entry: the for (1); for: 1 + try 5 + with 1 + match 3 + def 1 + while 1 = 12;
    # inner: a leaf, no check; while: 1 + 2 = 3
    assert weights(src) == [1, 12, 3]


def test_entry_checks_weigh_at_least_one_and_follow_the_docstring() -> None:
    def first_def(src: str) -> ast.FunctionDef:
        node = ast.parse(src).body[0]
        assert isinstance(node, ast.FunctionDef)
        return node

    assert _rewrite.function_weight(first_def('def f():\n    "only a docstring"\n')) == 1
    assert _rewrite.function_weight(first_def("def f():\n    global g\n")) == 1
    assert weights("def f():\n    global g\n    g()\n") == [1]
    text = rewritten('def f():\n    "doc"\n    g()\n')
    assert text.startswith('def f():\n    """doc"""\n    __loom_b__')


@pytest.mark.parametrize(
    "body",
    [
        "return a + b.c * 2",
        "x = a[1:2]; a.b = -x; del a[0]; return f'{x!r}'",
        "if a:\n        raise b\n    try:\n        x = a.b\n    except E:\n        x = None",
        "with a as b:\n        return b.c",
        "global g\n    g = a is b or a in b",
    ],
)
def test_leaves_get_no_check(body: str) -> None:
    src = f"def f(a, b):\n    {body}\n"
    assert rewritten(src) == expect(src)
    assert rewritten(src, HARD) == expect(src)


@pytest.mark.parametrize(
    "body",
    [
        "return g(a)",  # a call (may recurse)
        "while a:\n        a -= 1",
        "for x in a:\n        pass",
        "return [x for x in a]",  # comprehensions are loops
        "return {x: 1 for x in a}",
        "return sum(x for x in a)",
        "yield a",  # a generator resumes its frame many times
        "return (yield from a)",
        "return lambda: a",  # nested scopes: conservatively not leaves
        "def g():\n        pass",
        "class C:\n        pass",
        "import os",  # runs a module body
        "from os import path",
    ],
)
def test_what_makes_a_function_no_leaf(body: str) -> None:
    assert len(weights(f"def f(a):\n    {body}\n")) >= 1


def test_async_leaves_and_awaits() -> None:
    assert weights("async def f(a):\n    return a\n") == []
    assert weights("async def f(a):\n    return await a\n") == [1]
    assert weights("async def f(a):\n    async with a:\n        pass\n") == [1]


def test_dunder_methods_and_decorated_functions_keep_their_check() -> None:
    # They run implicitly (operators, attribute access), so leaves could recurse through them.
    src = """
    class Node:
        def __add__(self, other):
            return self.v + other.v
        @property
        def total(self):
            return self.left.total + self.right.total
        def plain(self):
            return self.v
    """
    assert weights(src) == [1, 1]


def test_module_and_class_bodies_are_left_alone_but_not_the_lambdas_they_define() -> None:
    src = """
    while x:
        x -= 1
    for i in range(3):
        pass
    class C:
        for k in range(2):
            pass
        squares = [i * i for i in range(9)]
        g = lambda: [i for i in range(9)]
    """
    assert rewritten(src, HARD) == expect(src.replace(
        "g = lambda: [i for i in range(9)]",
        "g = lambda: [i for i in range(9) if not __loom_f__ or __loom_p__(2)]",  # runs later
    ))


def test_async_for_generators_and_nested_classes_get_checks() -> None:
    src = """
    async def agen(xs):
        async for x in xs:
            yield x
    def outer():
        class Local:
            def m(self):
                return 1
        return Local
    """
    assert weights(src) == [1, 2, 2]  # agen entry, async for, outer entry; Local.m is a leaf


def test_compile_module_counts_sites_and_functions_and_keeps_future_import_first() -> None:
    src = "from __future__ import annotations\n" + textwrap.dedent(SAMPLE)
    compiled = _rewrite.compile_module(src, "<sample>")
    assert (compiled.checks, compiled.functions) == (3, 1)
    ns: dict[str, object] = {
        "__loom_b__": _preempt.Budget(10**9),
        "__loom_f__": [],
        "__loom_p__": print,
    }
    exec(compiled.codes[DET], ns)
    f = ns["f"]
    assert isinstance(f, types.FunctionType)
    assert (f(5), f.__doc__) == (6, "doc")


def test_annotations_stay_lazy_under_future_import() -> None:
    src = "from __future__ import annotations\ndef f(x: Undefined) -> Nope:\n    return x\n"
    ns: dict[str, object] = {"__loom_b__": _preempt.Budget(10**9)}
    exec(_rewrite.compile_module(src, "<sample>").codes[DET], ns)
    f = ns["f"]
    assert isinstance(f, types.FunctionType)
    assert f.__annotations__ == {"x": "Undefined", "return": "Nope"}


def test_checks_keep_the_line_of_the_statement_they_precede() -> None:
    src = textwrap.dedent(SAMPLE)
    tree = ast.parse(src)
    _rewrite.Inserter(DET).visit(tree)
    f = tree.body[0]
    assert isinstance(f, ast.FunctionDef)
    assert [s.lineno for s in f.body[:5]] == [3, 4, 5, 5, 5]  # doc, global, 2 check stmts, i = 0
    loop = f.body[5]
    assert isinstance(loop, ast.While)
    assert {n.lineno for s in loop.body[:2] for n in ast.walk(s) if hasattr(n, "lineno")} == {7}


def test_tracebacks_point_at_the_original_lines() -> None:
    src = textwrap.dedent("""
    def f(n):
        for i in range(n):
            if i == 2:
                raise KeyError(i)
    """)
    ns: dict[str, object] = {"__loom_b__": _preempt.Budget(10**9), "__loom_f__": []}
    code = _rewrite.compile_module(src, "/virtual/behaviour.py").codes[DET]
    exec(code, ns)
    with pytest.raises(KeyError) as info:
        ns["f"](5)  # type: ignore[operator]
    frames = traceback.extract_tb(info.value.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno) == ("/virtual/behaviour.py", 5)


def test_generators_stay_generators_and_nonlocal_stays_legal() -> None:
    src = textwrap.dedent("""
    def counter():
        n = 0
        def bump():
            nonlocal n
            n += 1
            return n
        return bump
    def gen(k):
        while k:
            k -= 1
            yield k
    """)
    ns: dict[str, object] = {"__loom_b__": _preempt.Budget(10**9), "__loom_f__": []}
    exec(_rewrite.compile_module(src, "<s>").codes[DET], ns)
    gen, counter = ns["gen"], ns["counter"]
    assert inspect.isgeneratorfunction(gen)
    assert list(gen(3)) == [2, 1, 0]
    bump = counter()  # type: ignore[operator]
    assert [bump(), bump()] == [1, 2]


def test_variants_pair_nested_code_by_qualname_and_line() -> None:
    src = textwrap.dedent("""
    def a():
        def b():
            return lambda: 1
        return b
    class K:
        def m(self):
            pass
    """)
    compiled = _rewrite.compile_module(src, "<s>")
    pairs = list(_rewrite.code_pairs(compiled.codes[HARD], compiled.codes[DET]))
    assert [h.co_qualname for h, _ in pairs] == [
        "<module>",
        "a",
        "a.<locals>.b",
        "a.<locals>.b.<locals>.<lambda>",
        "K",
        "K.m",
    ]
    assert all(h is not d for h, d in pairs)


def test_every_comprehension_clause_gets_a_check_before_its_conditions() -> None:
    src = """
    def f(xs, ys):
        return [x * y for x in xs if x for y in ys if y if y > 1], (z for z in xs)
    """
    assert rewritten(src, HARD) == expect("""
        def f(xs, ys):
            if __loom_f__:
                __loom_p__(1)
            return [x * y for x in xs if not __loom_f__ or __loom_p__(2) if x
                    for y in ys if not __loom_f__ or __loom_p__(4) if y if y > 1], (
                z for z in xs if not __loom_f__ or __loom_p__(2))
    """)
    assert rewritten(src) == expect("""
        def f(xs, ys):
            __loom_b__.n -= 1
            if __loom_b__.n < 0:
                __loom_p__(1)
            return [x * y for x in xs
                    for __loom_b__.n in (__loom_b__.n - 2,) if __loom_b__.n >= 0 or __loom_p__(2)
                    if x for y in ys
                    for __loom_b__.n in (__loom_b__.n - 4,) if __loom_b__.n >= 0 or __loom_p__(4)
                    if y if y > 1], (
                z for z in xs
                for __loom_b__.n in (__loom_b__.n - 2,) if __loom_b__.n >= 0 or __loom_p__(2))
    """)


def test_comprehensions_in_loop_headers_defaults_and_lambdas_get_checks_too() -> None:
    src = """
    def f(xs):
        while any(x for x in xs):
            xs = xs[1:]
        for y in {v: v for v in xs}:
            pass
        def g(a=[i for i in xs]):
            return a
        return lambda: {k for k in xs}, g
    """
    checks = rewritten(src, HARD).count("not __loom_f__ or __loom_p__(")
    assert checks == 4


COMPREHENSIONS = '''
import asyncio

def clauses(xs, ys):
    return [(x, y) for x in xs if x % 2 for y in ys if y != x if y > 0]

def kinds(xs):
    return {x: x * x for x in xs}, {x % 3 for x in xs}, sorted(x for x in xs if x)

def nothing_leaks(xs):
    out = [x for x in xs]
    try:
        x
    except NameError:
        return out, "no leak"
    return out, "leak"

def walrus(xs):
    doubled = [last := x * 2 for x in xs]
    return doubled, last

def lazy(log):
    def src(n):
        for i in range(n):
            log.append(("yield", i))
            yield i
    gen = (log.append(("elt", i)) or i for i in src(3) if log.append(("if", i)) or True)
    log.append("made")
    first = next(gen)
    log.append(("got", first))
    return first, list(gen)

def eager_first_iterable():
    try:
        (x for x in 5)
    except TypeError as exc:
        return str(exc)

def class_scope():
    class C:
        k = 2
        try:
            out = [k for _ in range(2)]
        except NameError as exc:
            out = str(exc)
    return C.out

def raising(xs):
    return [1 // x for x in xs if x != 2]

def enclosing_and_nested(xs):
    base = 10
    return [[base + x + y for y in range(x)] for x in xs if [y for y in range(x) if y > 1]]

async def agen(n):
    for i in range(n):
        yield i

def async_comp(n):
    async def main():
        return [i async for i in agen(n) if i % 2], {i: i async for i in agen(n)}
    return asyncio.run(main())

def never_reaches_an_accepting_filter(xs):
    return any(False for x in xs if x < 0)
'''


@pytest.mark.parametrize("variant", [None, DET, HARD])
def test_comprehensions_keep_their_semantics_in_both_variants(variant: str | None) -> None:
    src = textwrap.dedent(COMPREHENSIONS)
    code = compile(src, "<c>", "exec") if variant is None else (
        _rewrite.compile_module(src, "<c>").codes[variant]
    )
    ns: dict[str, object] = {"__loom_b__": _preempt.Budget(1), "__loom_f__": [1]}
    ns["__loom_p__"] = lambda w: ns["__loom_b__"].set(1) or True  # type: ignore[attr-defined]
    exec(code, ns)
    f: dict[str, types.FunctionType] = ns  # type: ignore[assignment]
    assert f["clauses"]([1, 2, 3], [3, 1, -1]) == [(1, 3), (3, 1)]
    assert f["kinds"]([0, 1, 2, 4]) == ({0: 0, 1: 1, 2: 4, 4: 16}, {0, 1, 2}, [1, 2, 4])
    assert f["nothing_leaks"]((1, 2)) == ([1, 2], "no leak")
    assert f["walrus"]([1, 2, 3]) == ([2, 4, 6], 6)
    log: list[object] = []
    assert f["lazy"](log) == (0, [1, 2])
    assert log == ["made", ("yield", 0), ("if", 0), ("elt", 0), ("got", 0),
                   ("yield", 1), ("if", 1), ("elt", 1), ("yield", 2), ("if", 2), ("elt", 2)]
    assert f["eager_first_iterable"]() == "'int' object is not iterable"
    assert f["class_scope"]() == "name 'k' is not defined"
    with pytest.raises(ZeroDivisionError) as info:
        f["raising"]([1, 2, 0])
    line = next(i for i, text in enumerate(src.splitlines(), 1) if "1 // x" in text)
    assert traceback.extract_tb(info.value.__traceback__)[-1].lineno == line
    assert f["enclosing_and_nested"]([1, 3, 4]) == [[13, 14, 15], [14, 15, 16, 17]]
    assert f["async_comp"](4) == ([1, 3], {0: 0, 1: 1, 2: 2, 3: 3})
    assert f["never_reaches_an_accepting_filter"](range(5)) is False


def test_comprehension_checks_bind_no_name() -> None:
    src = textwrap.dedent(COMPREHENSIONS)
    plain = compile(src, "<c>", "exec")
    compiled = _rewrite.compile_module(src, "<c>")
    for variant in (DET, HARD):
        pairs = zip(
            _rewrite.code_pairs(plain, plain),
            _rewrite.code_pairs(compiled.codes[variant], compiled.codes[variant]),
            strict=True,
        )
        for (old, _), (new, _) in pairs:
            assert (new.co_qualname, new.co_varnames, new.co_cellvars, new.co_freevars) == (
                old.co_qualname, old.co_varnames, old.co_cellvars, old.co_freevars
            )
