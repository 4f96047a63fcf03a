"""Which modules are behaviour code, and so may be instrumented: the configured prefixes, and
never the stdlib, site-packages or Loom's own packages unless a prefix names the module."""

from __future__ import annotations

import functools
import os
import site
import sys
import sysconfig

__all__ = ["NEVER", "configured", "is_behaviour_module", "prefixes", "refused_name"]

#: Top-level packages never instrumented (``server.<sub>`` may be added explicitly: the
#: built-in sandbox world lives there).
NEVER = frozenset({"sim", "net", "server", "greenlet", "pytest", "_pytest", "hypothesis", "pluggy"})

#: Module prefixes the import hook instruments (``sim._preempt.hook.add_prefixes``).
prefixes: set[str] = set()


@functools.cache
def _library_dirs() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(stdlib dirs, site-packages dirs), real paths with a trailing separator."""
    paths = sysconfig.get_paths()
    std = {paths["stdlib"], paths["platstdlib"]}
    lib = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        lib.add(site.getusersitepackages())

    def norm(dirs: set[str]) -> tuple[str, ...]:
        return tuple(sorted(os.path.join(os.path.realpath(d), "") for d in dirs))

    return norm(std), norm(lib)


def refused_name(name: str) -> bool:
    """Module ``name`` belongs to Loom, its tools or the stdlib."""
    top = name.partition(".")[0]
    return top in NEVER or top in sys.stdlib_module_names or top in sys.builtin_module_names


def configured(name: str) -> bool:
    """A configured prefix names module ``name``."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def is_behaviour_module(name: str, filename: str | None) -> bool:
    """May module ``name`` (loaded from ``filename``) be instrumented?

    Never the stdlib (by name or path); never ``NEVER`` packages or site-packages unless a
    configured prefix names the module (a world installed as a package, ``server.sandbox``).
    """
    named = configured(name)
    if refused_name(name) and not named:
        return False
    if filename:
        real = os.path.realpath(filename)
        std, lib = _library_dirs()
        if real.startswith(lib):  # checked first: site-packages may sit inside the stdlib
            return named
        if real.startswith(std):
            return False
    return True
