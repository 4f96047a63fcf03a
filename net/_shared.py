"""What net takes from `sim` outside the pump: `limits`, the module sim/_limits.py — the value
limits and checks that the world and the wire share — loaded without the rest of `sim`."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["limits"]

# Discussion: `import sim._limits` would run sim/__init__.py first, and with it the kernel
# (greenlet, the C half, a tenth of a second) in every pygame client and bot that imports
# `net`. sim/_limits.py imports only the stdlib, so it runs on its own. It is registered
# under its real name: whichever of `import net` and `import sim` comes first makes the one
# module object and the other finds it in sys.modules, so both use the very same limits.


def _load(name: str = "sim._limits") -> ModuleType:
    module = sys.modules.get(name)
    if module is not None:
        return module
    package = importlib.util.find_spec("sim")  # a top-level spec: found, not imported
    if package is None or not package.submodule_search_locations:
        raise ImportError(f"cannot find the sim package for {name}")
    path = os.path.join(list(package.submodule_search_locations)[0], "_limits.py")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


if TYPE_CHECKING:
    from sim import _limits as limits
else:
    limits = _load()
