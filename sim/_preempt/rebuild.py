"""Rebuilding one live function from its own source, in both check variants: for functions
of modules imported before the import hook (``sim._preempt.instrument``'s late
instrumentation).  Nothing is executed; what cannot be rebuilt raises ``Uninstrumentable``
with the reason.
"""

from __future__ import annotations
import __future__

import ast
import copy
import inspect
import linecache
import sys
import types

from .rewrite import VARIANTS, Compiled, Inserter

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_OUTER = "__loom_outer__"
_CO_NESTED = 0x10
FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


class Uninstrumentable(Exception):
    """A function cannot be rebuilt from its source; the message is the reason."""


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


def _own_name_is_global(code: types.CodeType) -> bool:
    """Whether ``_wrap`` declares the name its def (or class) binds global: unless the running
    code has it as a free variable.  The compiled def's qualname then has no ``<locals>``."""
    cls = _mangling_class(code.co_qualname)
    return (cls if cls is not None else code.co_name) not in code.co_freevars


def _wrap(node: ast.FunctionDef | ast.AsyncFunctionDef, code: types.CodeType) -> ast.Module:
    """A synthetic module ``def __loom_outer__(): [global N]; <freevars> = None; [class C:]
    <node>``.

    Binding the free variables in an enclosing def makes the compiler emit the same
    ``co_freevars``; the class (named as in the qualname) reproduces private-name mangling and
    the implicit ``__class__`` cell of zero-argument ``super()``.  The def (or that class)
    binds its name N in the enclosing def too, which would turn the running code's global N
    (a function calling itself, a method naming its class) into a free variable: unless N is
    one of the running code's free variables, it is declared global there.
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
    if _own_name_is_global(code):
        binds.append(ast.Global([cls if cls is not None else node.name]))
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
    target = "" if _own_name_is_global(code) else f"{_OUTER}.<locals>."
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
