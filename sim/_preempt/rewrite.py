"""The AST rewrite behind preemption: where checks go, what they weigh, and how a function is
rebuilt from its own source. Pure functions over ``ast`` and code objects; the registry, the
import hook and the variant switch live in ``sim._preempt.instrument``.

A check is one of two statement shapes (the same sites, the same static weight ``W``; the cells
and why they have these shapes are described in ``sim._preempt``)::

    if __loom_f__: __loom_p__(W)                                     # hard variant
    __loom_b__.n -= W; if __loom_b__.n < 0: __loom_p__(W)            # deterministic variant

Comprehensions and generator expressions hold no statements: each of their ``for`` clauses
gets the same check as clauses that keep every element (``check_clauses``)::

    [e for x in xs if c]
    [e for x in xs if not __loom_f__ or __loom_p__(W) if c]                           # hard
    [e for x in xs for __loom_b__.n in (__loom_b__.n - W,) if __loom_b__.n >= 0 or __loom_p__(W)
     if c]                                                                        # deterministic

Unit of weight: one unit ~ one simple statement (Stackless counted ~5 bytecode ticks for
``counter[0] += 1``, so a Loom unit is coarser and steadier across Python versions).
"""

from __future__ import annotations
import __future__

import ast
import copy
import inspect
import linecache
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass

from sim import _preempt

FLAG_NAME = "__loom_f__"
BUDGET_NAME = "__loom_b__"
SLOW_NAME = "__loom_p__"
VARIANTS = (_preempt.HARD, _preempt.DETERMINISTIC)

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_OUTER = "__loom_outer__"
_CO_NESTED = 0x10
FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


class Uninstrumentable(Exception):
    """A function cannot be rebuilt from its source; the message is the reason."""


# --- weights ---------------------------------------------------------------------------------


def block_weight(stmts: list[ast.stmt]) -> int:
    """Simple statements of a block, looking into if/try/with/match branches.

    A nested loop, ``def`` or ``class`` counts one unit (its header runs here); its body is paid
    for by its own checks. ``global``/``nonlocal`` are declarations and cost nothing.
    """
    n = 0
    for s in stmts:
        if isinstance(s, _LOOPS + _SCOPES):
            n += 1
        elif isinstance(s, ast.If):
            n += block_weight(s.body) + block_weight(s.orelse)
        elif isinstance(s, ast.With | ast.AsyncWith):
            n += block_weight(s.body)
        elif isinstance(s, ast.Try | ast.TryStar):
            n += block_weight(s.body) + block_weight(s.orelse) + block_weight(s.finalbody)
            n += sum(block_weight(h.body) for h in s.handlers if isinstance(h, ast.ExceptHandler))
        elif isinstance(s, ast.Match):
            n += sum(block_weight(c.body) for c in s.cases)
        elif not isinstance(s, ast.Global | ast.Nonlocal):
            n += 1
    return n


def loop_weight(node: ast.For | ast.AsyncFor | ast.While) -> int:
    """Weight of a loop's back-edge check: 1 for the loop test plus its body's statements."""
    return 1 + block_weight(node.body)


def _has_docstring(body: list[ast.stmt]) -> bool:
    first = body[0] if body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def _entry_index(body: list[ast.stmt]) -> int:
    """Where a function-entry check goes: after the docstring and leading global/nonlocal."""
    i = 1 if _has_docstring(body) else 0
    while i < len(body) and isinstance(body[i], ast.Global | ast.Nonlocal):
        i += 1
    return i


def function_weight(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Weight of a function-entry check: the body's statements outside nested loops/defs, >= 1."""
    return max(1, block_weight(node.body[1:] if _has_docstring(node.body) else node.body))


def clause_weight(clause: ast.comprehension, innermost: bool) -> int:
    """Weight of a comprehension clause's check: 1 for the step plus one per condition, and 1
    for the element in the innermost clause (it runs once per step there)."""
    return 1 + len(clause.ifs) + innermost


# What makes a function body unbounded, or able to run code of its own choosing: calls, loops,
# awaits, yields and comprehensions (implicit loops), and - conservatively - nested scopes and
# imports (a class body or a module body runs right here).
_NOT_LEAF = (
    ast.Call,
    *_LOOPS,
    ast.Await,
    ast.AsyncWith,
    ast.Yield,
    ast.YieldFrom,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Lambda,
    *_SCOPES,
    ast.Import,
    ast.ImportFrom,
)


def is_leaf(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function whose body does bounded work of its own: it gets no entry check.

    # Discussion: an entry check exists so that recursion without loops stays preemptible; a
    # body with no call, loop, await, yield, comprehension, nested scope or import cannot
    # recurse or spin by itself, and every function it reaches implicitly (a dunder method, a
    # property) has checks of its own unless it is a leaf too. Leaves could still recurse
    # through each other implicitly (``self.left.value + self.right.value`` in a property), so
    # dunder methods and decorated functions (properties, descriptors) keep their check. What
    # is left uncovered is an implicit recursion through a leaf attached without decorator
    # syntax (``value = property(_value)``), a shape that also needs a data structure deep
    # enough to matter. Skipping the check makes the leaf's statements free in deterministic
    # mode; weights stay static, so interleavings stay identical from run to run.
    """
    if node.decorator_list or (node.name.startswith("__") and node.name.endswith("__")):
        return False
    stack: list[ast.AST] = list(node.body)
    while stack:
        sub = stack.pop()
        if isinstance(sub, _NOT_LEAF):
            return False
        stack.extend(ast.iter_child_nodes(sub))
    return True


# --- insertion -------------------------------------------------------------------------------


def _located(node: ast.AST, anchor: ast.stmt | ast.expr) -> None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.expr | ast.stmt):
            sub.lineno = sub.end_lineno = anchor.lineno
            sub.col_offset = sub.end_col_offset = anchor.col_offset


def _budget(ctx: ast.expr_context) -> ast.Attribute:
    # A slot of one object (see _preempt.Budget): cheaper than a list index to read and to
    # write, on every supported version.
    return ast.Attribute(ast.Name(BUDGET_NAME, ast.Load()), "n", ctx)


def _slow(weight: int) -> ast.Call:
    return ast.Call(ast.Name(SLOW_NAME, ast.Load()), [ast.Constant(weight)], [])


def make_check(variant: str, weight: int, anchor: ast.stmt) -> list[ast.stmt]:
    """The check statements of ``variant``, placed at ``anchor``'s position (line kept)."""
    slow = ast.Expr(_slow(weight))
    out: list[ast.stmt]
    if variant == _preempt.HARD:
        # The flag is a list that is empty while down: a truth test, no index (see _preempt).
        out = [ast.If(ast.Name(FLAG_NAME, ast.Load()), [slow], [])]
    elif variant == _preempt.DETERMINISTIC:
        spend = ast.AugAssign(_budget(ast.Store()), ast.Sub(), ast.Constant(weight))
        low = ast.Compare(_budget(ast.Load()), [ast.Lt()], [ast.Constant(0)])
        out = [spend, ast.If(low, [slow], [])]
    else:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    for stmt in out:
        _located(stmt, anchor)
    return out


def check_clauses(
    variant: str, weight: int, clause: ast.comprehension
) -> list[ast.comprehension]:
    """``clause`` with the check of ``variant`` at the start of each of its steps, as clauses
    (placed at the clause's target). The check is a condition that is always true
    (``slow_path`` returns True) and comes before the clause's own conditions, which a
    filter that rejects everything could otherwise keep it from ever reaching.

    # Discussion: a comprehension's semantics stay exactly as written. Nothing is hoisted out
    # of it and no name is bound: the hard check only reads the flag; the deterministic one
    # stores the budget through an attribute target, ``for __loom_b__.n in (__loom_b__.n -
    # W,)``, which CPython (3.9+) compiles to a plain store, not a loop: the bytecode of the
    # statement check. Laziness, scoping (a clause's iterable, the class scope, walrus
    # targets), the iteration variables and the code objects (3.11) or inlining (3.12+, PEP
    # 709) are those of the original.
    """
    if variant == _preempt.HARD:
        flag_down = ast.UnaryOp(ast.Not(), ast.Name(FLAG_NAME, ast.Load()))
        check: ast.expr = ast.BoolOp(ast.Or(), [flag_down, _slow(weight)])
        _located(check, clause.target)
        clause.ifs.insert(0, check)
        return [clause]
    if variant != _preempt.DETERMINISTIC:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    store = _budget(ast.Store())
    spent = ast.Tuple([ast.BinOp(_budget(ast.Load()), ast.Sub(), ast.Constant(weight))], ast.Load())
    left = ast.Compare(_budget(ast.Load()), [ast.GtE()], [ast.Constant(0)])
    check = ast.BoolOp(ast.Or(), [left, _slow(weight)])
    for node in (store, spent, check):
        _located(node, clause.target)
    step = ast.comprehension(store, spent, [check, *clause.ifs], 0)
    clause.ifs = []
    return [clause, step]


class Inserter(ast.NodeVisitor):
    """Inserts checks in place; counts the sites (``checks``) and the ``functions`` rewritten
    (leaves included: they are safe as they are, see ``is_leaf``).

    # Discussion: only code inside a function gets loop checks. Module and class bodies run at
    # import time under the import lock, where switching to another tasklet could hand it a
    # half-initialised module; they run once, so leaving them alone costs no liveness in the
    # steady state. A class body inside a function resets the state for the same reason, and
    # its methods are functions again. Comprehensions and generator expressions inside a
    # function or a lambda get a check per ``for`` clause (``check_clauses``); a lambda's body
    # is one expression and gets no entry check. The parts of a ``def`` or
    # ``class`` statement that run where it stands (decorators, defaults, bases) and a loop's
    # header (its iterable, its test) are visited with the state of the enclosing code.
    # Annotations are left as written: ``from __future__ import annotations`` keeps their text.
    """

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.checks = 0
        self.functions = 0
        self._in_function = False

    def _visit_block(self, stmts: list[ast.stmt], in_function: bool) -> None:
        outer, self._in_function = self._in_function, in_function
        for stmt in stmts:
            self.visit(stmt)
        self._in_function = outer

    def _visit_exprs(self, nodes: list[ast.expr | None]) -> None:
        for node in nodes:
            if node is not None:
                self.visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions += 1
        self._visit_exprs([*node.decorator_list, *node.args.defaults, *node.args.kw_defaults])
        if is_leaf(node):  # nothing nested either: no loop, no def
            return
        weight = function_weight(node)
        self._visit_block(node.body, True)
        at = _entry_index(node.body)
        node.body[at:at] = make_check(self.variant, weight, node.body[min(at, len(node.body) - 1)])
        self.checks += 1

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        weight = loop_weight(node)
        if isinstance(node, ast.While):
            self.visit(node.test)
        else:
            self._visit_exprs([node.target, node.iter])
        self._visit_block(node.body, self._in_function)
        self._visit_block(node.orelse, self._in_function)
        if self._in_function:
            node.body[0:0] = make_check(self.variant, weight, node.body[0])
            self.checks += 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_exprs([*node.args.defaults, *node.args.kw_defaults])
        outer, self._in_function = self._in_function, True  # the body runs when called
        self.visit(node.body)
        self._in_function = outer

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._visit_exprs([node.target, node.value])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_exprs([*node.decorator_list, *node.bases])
        for keyword in node.keywords:
            self.visit(keyword)
        self._visit_block(node.body, False)

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
    ) -> None:
        self.generic_visit(node)  # comprehensions nested in it first
        if not self._in_function:
            return
        last = len(node.generators) - 1
        clauses: list[ast.comprehension] = []
        for i, clause in enumerate(node.generators):
            clauses += check_clauses(self.variant, clause_weight(clause, i == last), clause)
            self.checks += 1
        node.generators = clauses

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_For(self, node: ast.For) -> None:
        self._loop(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._loop(node)

    def visit_While(self, node: ast.While) -> None:
        self._loop(node)


@dataclass(frozen=True)
class Compiled:
    """Both variants of one compiled unit, plus what the rewrite inserted (per variant)."""

    codes: dict[str, types.CodeType]
    checks: int
    functions: int


def compile_module(source: str | bytes, filename: str) -> Compiled:
    """Compile a whole module's source in both variants (``__future__`` flags from the source)."""
    codes: dict[str, types.CodeType] = {}
    checks = functions = 0
    for variant in VARIANTS:
        tree = ast.parse(source, filename)
        inserter = Inserter(variant)
        inserter.visit(tree)
        codes[variant] = compile(tree, filename, "exec", dont_inherit=True)
        checks, functions = inserter.checks, inserter.functions
    return Compiled(codes, checks, functions)


def code_pairs(a: types.CodeType, b: types.CodeType) -> Iterator[tuple[types.CodeType, ...]]:
    """Pair ``a`` and ``b`` and, recursively, the code objects nested in their constants.

    The variants differ only by check statements, which hold no code objects, so nested codes
    appear in the same order; each pair is verified by ``co_qualname`` and ``co_firstlineno``.
    """
    if (a.co_qualname, a.co_firstlineno) != (b.co_qualname, b.co_firstlineno):
        raise ValueError(f"variants diverge at {a.co_qualname} / {b.co_qualname}")
    yield a, b
    subs_a = [c for c in a.co_consts if isinstance(c, types.CodeType)]
    subs_b = [c for c in b.co_consts if isinstance(c, types.CodeType)]
    if len(subs_a) != len(subs_b):
        raise ValueError(f"variants of {a.co_qualname} nest different code objects")
    for x, y in zip(subs_a, subs_b, strict=True):
        yield from code_pairs(x, y)


# --- rebuilding one live function from its source --------------------------------------------


def _mangling_class(qualname: str) -> str | None:
    """The innermost class around a def, from its qualname (for private-name mangling)."""
    parts = qualname.split(".")
    found = None
    for here, after in zip(parts[:-1], parts[1:], strict=True):
        if here != "<locals>" and after != "<locals>":
            found = here
    return found


def _source_block(code: types.CodeType, globs: dict[str, object]) -> tuple[str, int]:
    """The source block starting at ``code.co_firstlineno`` and the line number it starts at."""
    filename = code.co_filename
    if not filename or filename.startswith("<"):
        raise Uninstrumentable(f"no source file ({filename or 'none'})")
    linecache.checkcache(filename)
    lines = linecache.getlines(filename, globs)
    first = code.co_firstlineno
    if not lines or first > len(lines):
        raise Uninstrumentable(f"source unavailable in {filename}")
    try:
        block = inspect.getblock(lines[first - 1 :])
    except (SyntaxError, IndentationError) as exc:  # pragma: no cover - tokenizer quirks
        raise Uninstrumentable(f"source does not tokenize: {exc}") from None
    return "".join(block), first


def _parse_def(
    code: types.CodeType, text: str, first: int
) -> ast.FunctionDef | ast.AsyncFunctionDef:
    indented = text[:1] in (" ", "\t")
    try:
        tree = ast.parse("if 1:\n" + text if indented else text, code.co_filename)
    except SyntaxError as exc:
        raise Uninstrumentable(f"source does not parse alone: {exc.msg}") from None
    body = tree.body[0].body if indented and isinstance(tree.body[0], ast.If) else tree.body
    node = body[0] if body else None
    if not isinstance(node, _FUNCS) or node.name != code.co_name:
        raise Uninstrumentable("source no longer matches (no def of that name at that line)")
    ast.increment_lineno(node, first - 2 if indented else first - 1)
    # Decorators, defaults and annotations run in the enclosing scope, never in the function's
    # own code: neutralise them (keeping decorator lines, which set co_firstlineno).
    node.decorator_list = [
        ast.copy_location(ast.Name(_OUTER, ast.Load()), d) for d in node.decorator_list
    ]
    args = node.args
    args.defaults = [ast.copy_location(ast.Constant(None), d) for d in args.defaults]
    args.kw_defaults = [
        None if d is None else ast.copy_location(ast.Constant(None), d) for d in args.kw_defaults
    ]
    for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
        if a is not None:
            a.annotation = None
    node.returns = None
    return node


def _wrap(node: ast.stmt, code: types.CodeType) -> ast.Module:
    """A synthetic module ``def __loom_outer__(): <freevars> = None; [class C:] <node>``.

    Binding the free variables in an enclosing def makes the compiler emit the same
    ``co_freevars``; the class (named as in the qualname) reproduces private-name mangling and
    the implicit ``__class__`` cell of zero-argument ``super()``.
    """
    cls = _mangling_class(code.co_qualname)
    if cls is not None and not cls.isidentifier():
        raise Uninstrumentable(f"enclosing class name {cls!r} is not an identifier")
    names = [v for v in code.co_freevars if not (cls and v == "__class__")]
    outer = ast.parse(f"def {_OUTER}():\n    pass\n").body[0]
    assert isinstance(outer, ast.FunctionDef)
    inner: ast.stmt = node
    if cls is not None:
        klass = ast.parse(f"class {cls}:\n    pass\n").body[0]
        assert isinstance(klass, ast.ClassDef)
        klass.body = [node]
        inner = klass
    binds: list[ast.stmt] = []
    if names:
        targets: list[ast.expr] = [ast.Name(v, ast.Store()) for v in names]
        binds.append(ast.Assign(targets, ast.Constant(None)))
    outer.body = [*binds, inner]
    for n in (outer, inner, *binds):
        ast.copy_location(n, node)
    return ast.fix_missing_locations(ast.Module([outer], []))


def _pytest_asserts(module: ast.Module, code: types.CodeType, globs: dict[str, object]) -> None:
    """Re-apply pytest's assertion rewriting if the running module had it (a test module bound
    to a tasklet), so failures keep their introspection. Never imports pytest itself."""
    if "@pytest_ar" not in globs:
        return
    rewrite = getattr(sys.modules.get("_pytest.assertion.rewrite"), "rewrite_asserts", None)
    if rewrite is not None:
        rewrite(module, "".join(linecache.getlines(code.co_filename, globs)).encode())


def _find(code: types.CodeType, name: str, line: int) -> types.CodeType | None:
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            if c.co_name == name and c.co_firstlineno == line:
                return c
            found = _find(c, name, line)
            if found is not None:
                return found
    return None


def _requalify(code: types.CodeType, old: str, new: str) -> types.CodeType:
    consts = tuple(
        _requalify(c, old, new) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    qualname = code.co_qualname
    if qualname.startswith(old):
        qualname = new + qualname[len(old) :]
    return code.replace(co_consts=consts, co_qualname=qualname)


def _shape(code: types.CodeType) -> tuple[object, ...]:
    """What must agree between the running code and a recompile of its source.

    Locals are compared without synthetic names (pytest's assertion rewriting adds
    ``@py_assert1``...), lines as a set, so assert-rewritten test functions still qualify.
    """
    lines = frozenset(line for _, _, line in code.co_lines() if line is not None)
    return (
        code.co_name,
        code.co_firstlineno,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags & ~_CO_NESTED,
        code.co_freevars,
        tuple(v for v in code.co_varnames if v.isidentifier()),
        lines,
    )


def rebuild(func: types.FunctionType) -> Compiled:
    """Both variants of ``func``'s code, rebuilt from its own source; nothing is executed.

    Raises ``Uninstrumentable`` with a reason when the source is missing, ambiguous or no
    longer matches the running code, or when the free variables would not line up.
    """
    code = func.__code__
    if code.co_name == "<lambda>":
        raise Uninstrumentable("a lambda cannot be rebuilt from source on its own")
    text, first = _source_block(code, func.__globals__)
    parsed = _parse_def(code, text, first)
    flags = code.co_flags & FUTURE_FLAGS
    target = f"{_OUTER}.<locals>."
    cls = _mangling_class(code.co_qualname)
    target += f"{cls}.{code.co_name}" if cls else code.co_name
    out: dict[str, types.CodeType] = {}
    checks = 0
    for variant in (None, *VARIANTS):
        node = copy.deepcopy(parsed)
        if variant is not None:
            inserter = Inserter(variant)
            inserter.visit(node)
            checks = inserter.checks
        try:
            module = _wrap(node, code)
            _pytest_asserts(module, code, func.__globals__)
            unit = compile(module, code.co_filename, "exec", flags, dont_inherit=True)
        except SyntaxError as exc:
            raise Uninstrumentable(f"does not compile outside its scope: {exc.msg}") from None
        found = _find(unit, code.co_name, code.co_firstlineno)
        if found is None:
            raise Uninstrumentable("source no longer matches (code not found)")
        new = _requalify(found, target, code.co_qualname)
        new = new.replace(co_flags=(new.co_flags & ~_CO_NESTED) | (code.co_flags & _CO_NESTED))
        if variant is None:
            if _shape(new) != _shape(code):
                raise Uninstrumentable("source no longer matches the running code")
        elif new.co_freevars != code.co_freevars:
            raise Uninstrumentable(f"free variables {new.co_freevars} != {code.co_freevars}")
        else:
            out[variant] = new
    return Compiled(out, checks, 1)
