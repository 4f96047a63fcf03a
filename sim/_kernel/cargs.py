"""Argument errors worded as Stackless's C functions word them.

Stackless's ``tasklet``, ``channel`` and module functions are C functions: a wrong argument
count reads "takes no arguments (1 given)", "takes exactly one argument (2 given)", "takes at
most 3 arguments (4 given)" or "Required argument 'exc' (pos 1) not found", and programs and
test suites written for Stackless match these words.  The methods that need it take their
surplus in ``*more`` (and a missing required argument as the default ``NOARG``) and raise
the error this module builds; a correct call costs one truth test.
"""

from __future__ import annotations

from typing import Any

NOARG: Any = object()  # the default of a required argument: "not given"


def no_arguments(name: str, more: tuple[Any, ...]) -> TypeError:
    return TypeError(f"{name}() takes no arguments ({len(more)} given)")


def exactly_one(name: str, given: int) -> TypeError:
    return TypeError(f"{name}() takes exactly one argument ({given} given)")


def at_most(name: str, most: int, more: tuple[Any, ...]) -> TypeError:
    s = "" if most == 1 else "s"
    return TypeError(f"{name}() takes at most {most} argument{s} ({most + len(more)} given)")


def required(arg: str, pos: int = 1) -> TypeError:
    return TypeError(f"Required argument '{arg}' (pos {pos}) not found")


__all__ = ["NOARG", "at_most", "exactly_one", "no_arguments", "required"]
