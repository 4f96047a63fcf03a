"""The AST rewrite behind preemption: where checks go and how a module compiles in both
variants. Pure functions over ``ast`` and code objects; what a check weighs is
``sim._preempt.weights``, rebuilding one live function from its source
``sim._preempt.rebuild``; the registry, the import hook and the variant switch live in
``sim._preempt.instrument``.

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
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterator
from dataclasses import dataclass

from sim import _preempt

from .weights import clause_weight, entry_index, function_weight, is_leaf, loop_weight

__all__ = [
    "BUDGET_NAME", "FLAG_NAME", "SLOW_NAME", "VARIANTS", "Compiled", "Inserter", "check_clauses",
    "code_pairs", "compile_module", "function_weight", "is_leaf", "make_check",
]

FLAG_NAME = "__loom_f__"
BUDGET_NAME = "__loom_b__"
SLOW_NAME = "__loom_p__"
VARIANTS = (_preempt.HARD, _preempt.DETERMINISTIC)


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
        at = entry_index(node.body)
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
