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
            if not p.stem.startswith("_")
            and p.stem not in {"errors", "stackless", "durable", "client"}
        )
        assert public_modules == [], f"{package} has public implementation modules"


# Layers inside sim, bottom up: each may import only those below it (and sim.errors).
SIM_LAYERS = {
    "_preempt": set(),
    "_kernel": {"_preempt"},
    "_stackless": {"_preempt", "_kernel"},
    "_world": {"_preempt", "_kernel"},
}


def sim_imports(path: pathlib.Path) -> set[str]:
    """The sim sub-packages (``_kernel``, ``_world``, ...) that a module under sim/ imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(ROOT).with_suffix("").parts  # ("sim", "_world", "entity")
    package = list(parts[:-1]) if parts[-1] != "__init__" else list(parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[list[str]] = []
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
            else:
                base = []
            mod = base + (node.module.split(".") if node.module else [])
            targets = [mod + [alias.name] for alias in node.names] if not node.module else [mod]
        for t in targets:
            if len(t) >= 2 and t[0] == "sim" and t[1] in SIM_LAYERS:
                found.add(t[1])
    return found


def test_sim_layers_import_only_downwards() -> None:
    bad = []
    for layer, allowed in SIM_LAYERS.items():
        for path in sorted((ROOT / "sim" / layer).rglob("*.py")):
            hits = sim_imports(path) - allowed - {layer}
            if hits:
                bad.append(f"{path.relative_to(ROOT)} imports sim.{sorted(hits)}")
    assert bad == []

def net_imports(path: pathlib.Path) -> set[str]:
    """The `net` modules that `path` imports, counting imports made only for type checking:
    those are dependencies too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "net")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "net":
            names.add(node.module)
    return names


def test_net_modules_import_each_other_one_way() -> None:
    """No import cycle inside `net`, not even one hidden under TYPE_CHECKING: the connection
    and the lingerer know the pump only through the interface in net/_port.py."""
    graph = {("net" if p.stem == "__init__" else f"net.{p.stem}"): net_imports(p)
             for p in sorted((ROOT / "net").glob("*.py"))}
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(module)

    for module in graph:
        if module not in done:
            visit(module, [module])
    assert cycles == []
    assert "net._pump" not in graph["net._connection"] | graph["net._linger"]


def foreign_private_attributes(path: pathlib.Path) -> list[str]:
    """Every `x._name` in `path` where x is not `self` or `cls`: code reaching into another
    object's privates. Dunders and enum's `_sunder_` names are public protocol."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                not node.attr.endswith("_") and \
                not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return hits


def test_net_objects_talk_through_public_methods() -> None:
    """The pump, its connections and lingerers use each other's declared interface
    (net/_port.py), never each other's underscored attributes."""
    assert [hit for p in sorted((ROOT / "net").glob("*.py"))
            for hit in foreign_private_attributes(p)] == []


# Modules of sim._world, bottom up: at run time each imports only those before it.  Type
# annotations may point back up (under ``if TYPE_CHECKING``) only where an object refers to
# its owner: an entity to its world and its behaviours, a behaviour's tasklet to its world.
WORLD_ORDER = ["message", "restore", "fields", "tick", "supervise", "stats", "changes",
               "interest", "cells", "aoi", "entity", "behaviour", "durable", "wheel",
               "supervision", "population", "world", "scripting"]
WORLD_TYPE_ONLY_BACK = {("entity", "behaviour"), ("entity", "world"), ("behaviour", "world")}


def world_imports(path: pathlib.Path) -> tuple[set[str], set[str]]:
    """The sim._world modules ``path`` imports: (at run time, for type checking only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    runtime: set[str] = set()
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            (typed if id(node) in typing_only else runtime).update(names)
    return runtime, typed


def test_world_modules_import_one_way() -> None:
    folder = ROOT / "sim" / "_world"
    found = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    assert found == set(WORLD_ORDER)
    bad, back = [], set()
    for name in WORLD_ORDER:
        runtime, typed = world_imports(folder / f"{name}.py")
        below = set(WORLD_ORDER[: WORLD_ORDER.index(name)])
        bad += [f"{name} imports {m} at run time" for m in sorted(runtime - below)]
        back |= {(name, m) for m in typed - below}
    assert bad == []
    assert back == WORLD_TYPE_ONLY_BACK


# The kernel's door (sim/_kernel/scheduler.py, see its docstring) is the only code that
# changes a tasklet's run state or the run queue, and the only caller of the switch.
DOOR = "sim/_kernel/scheduler.py"
# A tasklet's constructors set its initial state; the kernel's own modules may read it.
INIT_FUNCTIONS = {
    ("sim/_kernel/tasklet.py", "_init_state"),
    ("sim/_kernel/threads.py", "make_main"),
}
KERNEL = "sim/_kernel/"
RUN_STATE = {"_in_ring", "_blocked", "_chan", "_timer"}


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def door_violations(source: str, rel: str) -> list[str]:
    """What the module at ``rel`` (relative to the repository) does behind the door's back."""
    if rel == DOOR:
        return []
    tree = ast.parse(source, filename=rel)
    bad: list[str] = []

    def visit(node: ast.AST, func: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            func = node.name
        if isinstance(node, ast.Attribute):
            what = None
            store = isinstance(node.ctx, ast.Store | ast.Del)
            if node.attr in RUN_STATE and store and (rel, func) not in INIT_FUNCTIONS:
                what = f"writes .{node.attr}"
            elif node.attr == "_in_ring" and not rel.startswith(KERNEL):
                what = "reads ._in_ring"
            elif node.attr == "q":
                what = "touches the run queue (.q)"
            elif node.attr == "current" and store:
                what = "sets .current"
            if what:
                bad.append(f"{rel}:{node.lineno} ({func}) {what}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "switch"
            and "sched" in _receiver(node.func.value)  # not a tasklet's or greenlet's switch
        ):
            bad.append(f"{rel}:{node.lineno} ({func}) calls the scheduler's switch")
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, "<module>")
    return bad


def test_only_the_kernels_door_moves_tasklets() -> None:
    bad = []
    for package in ("sim", "net", "server", "tools", "demos"):
        for path in sorted((ROOT / package).rglob("*.py")):
            bad.extend(door_violations(path.read_text(), path.relative_to(ROOT).as_posix()))
    assert bad == []


def test_the_door_check_sees_what_world_code_did_before_the_door() -> None:
    src = (
        "def park(sched, t):\n"
        "    t._in_ring = False\n"
        "    sched.switch(t, sched.q.popleft())\n"
    )
    found = door_violations(src, "sim/_world/behaviour.py")
    assert [f.split(" ", 1)[1] for f in found] == [
        "(park) writes ._in_ring",
        "(park) calls the scheduler's switch",
        "(park) touches the run queue (.q)",
    ]


def test_world_is_one_class_composed_of_parts() -> None:
    # No mixins: World's methods are all in world.py, over parts that own the state.
    from sim._world.world import World

    assert World.__bases__ == (object,)
    assert all(name in vars(World) for name in ("take_changes", "statistics", "run",
                                                "next_deadline", "release", "step"))
