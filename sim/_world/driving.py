"""How a world is driven: stepped as fast as possible (``run``) or in real time
(``next_deadline``), with wall-clock timers (``call_later_wall``) polled between steps.
``World`` has these methods from ``Driving`` (see :class:`~sim._world.world.World`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .behaviour import WallTimers
from .tick import Pacer, TimerHandle

__all__ = ["Driving"]


class Driving:
    """The driving side of ``World``: ``run``, ``next_deadline``, ``call_later_wall``."""

    # The world's state these methods read (World.__init__ sets it).
    _tick: int
    tick_rate: float
    wall: WallTimers
    _pacer: Pacer
    _wall_clock: Callable[[], float]

    if TYPE_CHECKING:
        def step(self) -> None: ...

    # ------------------------------------------------------------------ wall-clock timers

    def call_later_wall(self, seconds: float, fn: Callable[..., Any], *args: Any
                        ) -> TimerHandle[Any]:
        """Call ``fn(*args)`` after ``seconds`` of *wall* time, never dilated (session
        timeouts, checkpoints).  ``world.wall`` (:class:`WallTimers`) cancels and polls them;
        ``run()`` polls between steps, a server loop calls ``world.wall.poll()``."""
        return self.wall.call_later(seconds, fn, *args)

    # ------------------------------------------------------------------ driving it

    def run(self, ticks: int | None = None,
            until: float | Callable[[], bool] | None = None) -> int:
        """Step as fast as possible: ``ticks`` times, and/or until sim time reaches ``until``
        (seconds) or the predicate ``until()`` is true (checked after each step).  Fires due
        wall timers between steps.  Returns the number of steps.  For tests and benches."""
        if ticks is None and until is None:
            raise ValueError("run() needs ticks= or until=")
        done = 0
        while ticks is None or done < ticks:
            if until is not None and not callable(until) and self._tick / self.tick_rate >= until:
                break
            self.step()
            done += 1
            self.wall.poll()
            if callable(until) and until():
                break
        return done

    def next_deadline(self) -> float:
        """Wall-clock time (``wall_clock`` seconds) at which the next tick should start: one
        dilated period (``period / dilation``) after this tick's scheduled start.  Before the
        first step it is the time of the first call, and stays so.  A real-time loop::

            while running:
                while monotonic() < world.next_deadline():
                    poll()  # I/O, world.wall.poll(), or a sleep until the deadline
                world.step()
        """
        deadline = self._pacer.deadline  # pinned at the first call: "now" would move
        return self._pacer.pin(self._wall_clock()) if deadline is None else deadline
