"""Durable world behaviours: ``@behaviour(durable=True)`` runs an entity's behaviour as a
durable tasklet, which pickles while it runs and resumes, by replay, in a world restored at
the tick it was pickled (``sim.durable``'s kernel half does the journal and the replay).

What such a behaviour observes is journaled with what it got, in order: wake-ups from
``next_tick()``, ``world.sleep``, ``world.sleep_until`` and ``world.next_tick`` (the tick it
woke at), ``world.random`` draws, the queries ``world.nearest``, ``query_radius``, ``get``
and ``entities`` (their results, entities by reference), ``observe(fn, *args)`` (any read
of world state), and its channel calls (inbox receives and ``drain()``, messages it posts).
Its pickle names its entity, the entities in that record and the inboxes by entity id; it
unpickles with ``sim.durable.loads(blob, world)`` into the target world, where it replaces
the behaviour the entity runs for the same method and stands parked until the same absolute
tick (or runnable, or blocked on its inbox) as it did when pickled.

# Discussion: costs nothing for the others.
A world and its RNG switch class (``_JournaledWorld``, ``JournaledRandom``) when a durable
behaviour first lives in them: the journaled methods exist only there.  ``next_tick()``
is the one shared entry point; its C version hands a tasklet with a journal to this twin
with one test of a slot it reads anyway (see sim/_c/world.c).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from types import MethodType
from typing import Any

from .._kernel import running as _running
from .._kernel.durable import DurableTasklet, _durable_main
from .._kernel.journal import NOTHING, keep_by_reference
from .._kernel.scheduler import _local as _thread
from . import restore as _restore
from .behaviour import BehaviourTasklet, journaled_next_tick, woke_at
from .entity import Entity, WorldError

keep_by_reference(Entity)  # an entity in a journaled value is its id (see restore.py)


def _journal() -> Any:
    """The journal of the durable tasklet calling (or replaying) now, else None."""
    try:
        return _thread.sched.current._journal
    except AttributeError:
        return None


def observe(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, journaled when a durable behaviour calls it: a replay gets the value
    the original got, without calling ``fn``.  Read world state a durable behaviour acts on
    this way (its own ``pos``, another entity's fields, ``world.tick``)::

        here = observe(lambda: self.pos)
    """
    j = _journal()
    if j is None:
        return fn(*args)
    return j.call("observe", None, NOTHING, fn, *args)


class DurableBehaviour(BehaviourTasklet, DurableTasklet):
    """A durable behaviour's tasklet: a ``BehaviourTasklet`` whose journal starts as
    ``Kind.method(entity)`` (see the module's docstring)."""

    __slots__ = ()

    def bind(self, func: Any = None, args: Any = None, kwargs: Any = None, *more: Any
             ) -> Any:
        if isinstance(func, MethodType) and isinstance(func.__self__, Entity):
            func, args = func.__func__, (func.__self__, *(args or ()))  # by qualified name
        return DurableTasklet.bind(self, func, args, kwargs, *more)

    def _make_alive(self) -> None:
        super()._make_alive()
        arm(self.world)

    @staticmethod
    def _bootstrap(sched: Any) -> None:
        """As ``BehaviourTasklet._bootstrap``, around the journal's function."""
        t = sched.hub_target
        try:
            _running.begin(sched, t)
            while True:
                try:
                    _durable_main(t)
                    break
                except Exception:
                    t.world.supervision.crashed(t)
        except BaseException as e:
            _running.end(t, e)
            return
        _running.end(t, None)

    # ------------------------------------------------------------------ pickling

    def __reduce__(self) -> Any:
        _, _, state = super().__reduce__()
        if "run" in state:
            inboxes = {id(e.inbox): e.id for e in self.world.entities()}
            ref = _inbox_ref(inboxes)
            state["chans"] = [ref(c) for c in state["chans"]]
            kind, chan, fp = state["pending"]
            state["pending"] = (kind, ref(chan), fp)
            if self._due > 0:
                state["run"] = ("parked", self._due)
            elif not self._blocked:
                state["run"] = ("runnable",)
            elif id(self._chan) in inboxes:
                state["run"] = ("inbox", self._blocked)
        return (type(self), (self.entity, self.method), state)

    def __setstate__(self, state: dict[str, Any]) -> None:
        run = state.get("run")
        world = self.world
        if run is not None and run[0] == "parked" and run[1] <= world.tick:
            self._unbind()
            raise WorldError(f"{self.name} was parked until tick {run[1]}; the target world "
                             f"is at tick {world.tick}")
        if run is not None:
            state = dict(state, run=("paused",))
        super().__setstate__(state)  # replays (raises ReplayDivergence)
        old = self._replace()
        wheel = world._wheel
        if run is None or run[0] == "runnable":
            wheel.start(self, False)
        elif run[0] == "parked":
            wheel.put(self, run[1], world.tick, instead=old)
        elif run[0] == "inbox":
            self.entity.inbox.rewait(self, run[1])
        # "blocked" on another channel: that channel, unpickled with its queue, holds it
        if old is not None and old.alive:
            world._sched.unready(old)
            old.kill()
        if old is not None:
            wheel.drop(old, world.tick)

    def _replace(self) -> BehaviourTasklet | None:
        """Take the place of the entity's behaviour for the same method; returns it."""
        tasklets = self.entity._tasklets
        for i, old in enumerate(tasklets):
            if old.method == self.method and old is not self:
                tasklets[i] = self
                return old
        tasklets.append(self)
        return None


def _inbox_ref(inboxes: dict[int, int]) -> Callable[[Any], Any]:
    def ref(chan: Any) -> Any:
        eid = inboxes.get(id(chan))
        return chan if eid is None else _restore.InboxRef(eid)
    return ref


# --------------------------------------------------------------------------- the world


class _JournaledWorld:
    """The methods of a world with durable behaviours that journal what they observe."""

    def next_tick(self) -> None:
        base: Any = super()
        j = _journal()
        if j is None:
            return base.next_tick()  # type: ignore[no-any-return]
        journaled_next_tick(j)
        return None


def _wait(name: str) -> Callable[..., None]:
    def wait(self: Any, arg: float) -> None:
        base = getattr(super(_JournaledWorld, self), name)
        j = _journal()
        if j is None:
            return base(arg)  # type: ignore[no-any-return]
        j.call(name, None, arg, woke_at, self, base, arg)
        return None
    wait.__name__ = wait.__qualname__ = name
    return wait


def _query(name: str) -> Callable[..., Any]:
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        base = getattr(super(_JournaledWorld, self), name)
        j = _journal()
        if j is None:
            return base(*args, **kwargs)
        fp = (name, args, tuple(sorted(kwargs.items())))
        return j.call("query", None, fp, lambda: base(*args, **kwargs))
    query.__name__ = query.__qualname__ = name
    return query


for _name in ("sleep", "sleep_until"):
    setattr(_JournaledWorld, _name, _wait(_name))
for _name in ("nearest", "query_radius", "get", "entities"):
    setattr(_JournaledWorld, _name, _query(_name))


class JournaledRandom(random.Random):
    """A world's RNG once a durable behaviour lives in it: draws by a durable behaviour are
    journaled (name, arguments, result); everyone else's are plain."""

    # The stream stays the same: random.Random picks _randbelow by what a subclass overrides.
    _randbelow = random.Random._randbelow_with_getrandbits  # type: ignore[attr-defined]

    def shuffle(self, x: list[Any]) -> None:  # type: ignore[override]
        j = _journal()
        if j is None:
            return super().shuffle(x)
        x[:] = j.call("random", None, ("shuffle", tuple(x)), _shuffled, self, x)
        return None


def _shuffled(rnd: random.Random, x: list[Any]) -> list[Any]:
    random.Random.shuffle(rnd, x)
    return list(x)


def _draw(name: str) -> Callable[..., Any]:
    base = getattr(random.Random, name)

    def draw(self: Any, *args: Any, **kwargs: Any) -> Any:
        j = _journal()
        if j is None:
            return base(self, *args, **kwargs)
        fp = (name, args, tuple(sorted(kwargs.items())))
        return j.call("random", None, fp, lambda: base(self, *args, **kwargs))
    draw.__name__ = draw.__qualname__ = name
    return draw


for _name in ("random", "getrandbits", "uniform", "randint", "randrange", "choice", "choices",
              "sample", "gauss", "normalvariate", "lognormvariate", "expovariate",
              "vonmisesvariate", "gammavariate", "betavariate", "paretovariate",
              "weibullvariate", "triangular", "randbytes"):
    setattr(JournaledRandom, _name, _draw(_name))

_armed: dict[type, type] = {}


def arm(world: Any) -> None:
    """Give ``world`` and its RNG their journaling classes (once; same state, same stream)."""
    cls = type(world)
    if not issubclass(cls, _JournaledWorld):
        sub = _armed.get(cls)
        if sub is None:
            sub = _armed[cls] = type(cls.__name__, (_JournaledWorld, cls), {
                "__module__": cls.__module__, "__qualname__": cls.__qualname__})
        world.__class__ = sub
    if type(world.random) is random.Random:
        world.random.__class__ = JournaledRandom


__all__ = ["DurableBehaviour", "JournaledRandom", "arm", "observe"]
