"""What a preemption check weighs, and which functions need none (leaves): pure functions
over ``ast`` nodes, used by the rewrite (``sim._preempt.rewrite``).

Unit of weight: one unit ~ one simple statement (Stackless counted ~5 bytecode ticks for
``counter[0] += 1``, so a Loom unit is coarser and steadier across Python versions).
"""

from __future__ import annotations

import ast

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


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


def has_docstring(body: list[ast.stmt]) -> bool:
    first = body[0] if body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def entry_index(body: list[ast.stmt]) -> int:
    """Where a function-entry check goes: after the docstring and leading global/nonlocal."""
    i = 1 if has_docstring(body) else 0
    while i < len(body) and isinstance(body[i], ast.Global | ast.Nonlocal):
        i += 1
    return i


def function_weight(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Weight of a function-entry check: the body's statements outside nested loops/defs, >= 1."""
    return max(1, block_weight(node.body[1:] if has_docstring(node.body) else node.body))


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
