"""Durable tasklets: pickle a running tasklet and resume it elsewhere by deterministic replay.

A durable tasklet's history of inputs is its state.  Spawn one with
``sim.spawn(fn, *args, durable=True)`` (or ``sim.durable.DurableTasklet(fn, args)``); every
kernel call it makes is logged in its journal with what the kernel handed back.
``pickle.dumps(t)`` then gives ``fn`` by its qualified name, the arguments as they were at
spawn, the journal and the run state; ``pickle.loads`` runs ``fn`` again from the start, its
kernel calls answered from the journal without blocking or switching, until the tasklet
stands in the call it was suspended in: same locals, same run state, and it goes on as the
original would have::

    def counter(ch, out):                    # importable, top level
        total = 0
        while True:
            total += ch.recv()
            out.send(total)

    t = sim.spawn(counter, ch, out, durable=True)
    ...
    blob = pickle.dumps((t, ch, out))        # channels pickle with their queues
    t2, ch2, out2 = pickle.loads(blob)       # in this process or another one

Rules for authors:

* ``fn`` is a top-level function of an importable module; arguments are positional and
  picklable.  They are frozen (pickled) at spawn: later changes to the originals do not
  reach the tasklet, and a replay starts from the same values.
* Durable code is deterministic given its inputs.  It reaches the outside only through
  channels and kernel calls (``send``/``recv`` and their ``_nowait`` forms, Stackless
  channels, ``sim.schedule``, ``sim.sleep``, ``stackless.schedule``): no I/O, no wall-clock
  reads, no unseeded randomness, no iteration over sets of objects hashed by address.  A
  replay that makes another call than the journal (kind, channel or value sent), or ends
  early, raises :class:`ReplayDivergence` naming the step and both calls.
* Values received are recorded as they were received (immutable plain values as
  themselves, anything else pickled at once); channels and tasklets inside them stay
  references, so a pickle of tasklets and channels round-trips as one graph.
* Side effects on replay: the code runs again, so effects outside the kernel (appending to
  a global list, logging, printing) happen again; sends are not delivered again (the
  journal answers them). Keep such effects out of durable code or make them idempotent.
* A durable tasklet is not preempted between kernel calls (it is atomic; an interrupt
  deferred meanwhile makes it yield at its next call), so a long computation without
  kernel calls holds its thread.
* Its journal grows with every call: ``checkpoint(fn, *state)`` goes on as ``fn(*state)``
  and drops the journal so far (``sim.statistics()`` reports journal sizes).
* An entity's behaviour is durable with ``@sim.behaviour(durable=True)``: it journals its
  wake-up ticks, ``world.random`` draws, world queries, inbox traffic and ``observe(fn)``
  reads; it pickles naming entities by id and unpickles with ``loads(blob, world)`` into a
  world restored at that tick (``sim._world.durable`` says what replays and what does not).
* A started tasklet that is not durable pickles without its frames, as in Stackless: the
  unpickled copy raises ``RuntimeError`` (saying to spawn it durable) when it would run.
"""

from ._kernel.durable import DurableTasklet, checkpoint
from ._kernel.durable import statistics as _statistics
from ._world.durable import observe
from ._world.restore import loads
from .errors import ReplayDivergence


def statistics() -> tuple[int, int]:
    """``(durable tasklets alive, entries in their journals)`` in this process."""
    return _statistics()


__all__ = ["DurableTasklet", "ReplayDivergence", "checkpoint", "loads", "observe", "statistics"]
