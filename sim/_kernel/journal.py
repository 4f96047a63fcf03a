"""A durable tasklet's journal: every kernel call it made, in order, with what the kernel
handed back.  While the tasklet runs it records; while it is replayed (after unpickling) it
serves each call from the log, without blocking or switching, and checks that the call is
the one the log holds.

An entry is ``(kind, channel, fingerprint, ok, outcome)``: the kind of call (``"send"``,
``"recv"``, ``"schedule"``, ``"sleep"``, ...), the channel it was made on (None for the
others), the fingerprint of the value it sent or the argument it passed, and either the
value the kernel returned (``ok``) or the exception it raised in the tasklet.  ``pending`` is
the call the tasklet is suspended in now (kind, channel, fingerprint): the point a replay
stops at.

# Discussion: values.
A value crossing into a durable tasklet is recorded as it was then: plain immutable values
(numbers, strings, bytes, None, tuples of those) as themselves, anything else pickled at
once (``Frozen``), so that mutating it later changes neither the log nor the replay.
Kernel objects (channels, tasklets: ``keep_by_reference``) are kept by reference inside a
frozen value, so that a pickle of the tasklet and its channels round-trips as one graph.
A value sent is compared by the same fingerprint, with a digest in place of the pickle.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import TYPE_CHECKING, Any, NoReturn

import greenlet

from ..errors import ReplayDivergence
from .bomb import bomb

if TYPE_CHECKING:
    from .tasklet import Tasklet

NOTHING: Any = object()  # a call without an argument (recv, schedule)
PREEMPT = "preempt"  # a deferred interrupt honoured at a kernel call: the tasklet yielded

_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})
_BY_REFERENCE: list[type] = []


def keep_by_reference(cls: type) -> None:
    """Values of ``cls`` (and subclasses) inside recorded values are kept by reference."""
    _BY_REFERENCE.append(cls)


class _RefPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, refs: list[Any]) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.refs = refs

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) not in _PLAIN and isinstance(obj, tuple(_BY_REFERENCE)):
            self.refs.append(obj)
            return len(self.refs) - 1
        return None


class _RefUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, refs: tuple[Any, ...]) -> None:
        super().__init__(file)
        self.refs = refs

    def persistent_load(self, pid: Any) -> Any:
        return self.refs[pid]


class Frozen:
    """A value pickled when it was recorded; ``thaw()`` makes a fresh copy of it.  Kernel
    objects inside it stay references (``refs``)."""

    __slots__ = ("blob", "refs")

    def __init__(self, blob: bytes, refs: tuple[Any, ...]) -> None:
        self.blob = blob
        self.refs = refs

    def thaw(self) -> Any:
        return _RefUnpickler(io.BytesIO(self.blob), self.refs).load()

    def digest(self) -> Frozen:
        return Frozen(hashlib.blake2b(self.blob, digest_size=12).digest(), self.refs)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Frozen and self.blob == other.blob and len(self.refs) == len(other.refs)
            and all(a is b for a, b in zip(self.refs, other.refs, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (Frozen, (self.blob, self.refs))

    def __repr__(self) -> str:
        return f"<value {self.blob[:12].hex()}{'…' if len(self.blob) > 12 else ''}>"


def freeze(value: Any) -> Any:
    """``value`` as the log keeps it: itself if plain and immutable (or a kernel object),
    else pickled now."""
    tp = type(value)
    if tp in _PLAIN:
        return value
    if tp is tuple and _plain_tuple(value, 4):
        return value
    if isinstance(value, tuple(_BY_REFERENCE)):
        return value
    refs: list[Any] = []
    buf = io.BytesIO()
    _RefPickler(buf, refs).dump(value)
    return Frozen(buf.getvalue(), tuple(refs))


def _plain_tuple(value: tuple[Any, ...], depth: int) -> bool:
    return depth > 0 and all(
        type(v) in _PLAIN or (type(v) is tuple and _plain_tuple(v, depth - 1)) for v in value
    )


def thaw(value: Any) -> Any:
    return value.thaw() if type(value) is Frozen else value


def fingerprint(value: Any) -> Any:
    """What a sent value is compared by on replay."""
    if value is NOTHING:
        return None
    f = freeze(value)
    return f.digest() if type(f) is Frozen else f


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def describe(kind: str, chan: Any, fp: Any) -> str:
    name = getattr(chan, "name", None)
    where = f" on channel {name!r}" if name else f" on {chan!r}" if chan is not None else ""
    what = f" with {fp!r}" if fp is not None else ""
    return f"{kind}{where}{what}"


class Journal:
    """The log of one durable tasklet (see the module's docstring).  ``fn`` and ``args`` are
    where a replay starts: the tasklet's function and its frozen arguments, or the
    function and state of the last ``checkpoint``; ``base`` counts the entries checkpoints
    dropped; ``cursor`` is the next entry a replay serves (None: recording)."""

    __slots__ = ("tasklet", "fn", "args", "entries", "pending", "cursor", "origin", "failure",
                 "base")

    def __init__(self, tasklet: Tasklet, fn: Any, args: Any) -> None:
        self.tasklet = tasklet
        self.fn = fn
        self.args = args
        self.entries: list[tuple[Any, ...]] = []
        self.pending: tuple[Any, Any, Any] | None = None
        self.cursor: int | None = None
        self.origin: Any = None  # the greenlet that started a replay
        self.failure: BaseException | None = None
        self.base = 0

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------------ recording

    def call(self, kind: str, chan: Any, arg: Any, op: Any, *args: Any) -> Any:
        """Make kernel call ``op(*args)`` for the tasklet and log it (or, replaying, serve
        it from the log)."""
        fp = fingerprint(arg) if arg is not NOTHING else None
        if self.cursor is not None:
            return self._replay(kind, chan, fp, op, args)
        t = self.tasklet
        sched = t._sched
        if sched is not None and sched.pending_irq and sched.queued():
            self._run(PREEMPT, None, None, sched.schedule)  # a deferred preemption: yield
        return self._run(kind, chan, fp, op, *args)

    def _run(self, kind: str, chan: Any, fp: Any, op: Any, *args: Any) -> Any:
        t = self.tasklet
        self.pending = (kind, chan, fp)
        t._journal = None  # the gate is shut while the call runs (and waits)
        try:
            result = op(*args)
        except BaseException as e:
            self._done(kind, chan, fp, False, e)
            raise
        self._done(kind, chan, fp, True, freeze(result))
        return result

    def _done(self, kind: str, chan: Any, fp: Any, ok: bool, outcome: Any) -> None:
        self.tasklet._journal = self
        self.pending = None
        self.entries.append((kind, chan, fp, ok, outcome))

    # ------------------------------------------------------------------ replaying

    def _replay(self, kind: str, chan: Any, fp: Any, op: Any, args: tuple[Any, ...]) -> Any:
        entries = self.entries
        i = self.cursor
        assert i is not None
        while i < len(entries) and entries[i][0] == PREEMPT:
            i += 1  # preemptions are the kernel's doing, not the code's: served silently
        if i < len(entries):
            e = entries[i]
            if e[0] != kind or e[1] is not chan or not _same(e[2], fp):
                self.diverge(i, describe(*e[:3]), describe(kind, chan, fp))
            self.cursor = i + 1
            if e[3]:
                return thaw(e[4])
            raise e[4]
        p = self.pending
        if p is None or (p[0] != PREEMPT and (p[0] != kind or p[1] is not chan
                                              or not _same(p[2], fp))):
            self.diverge(i, describe(*p) if p else "nothing more", describe(kind, chan, fp))
        self.cursor = None
        # The log is exhausted: the tasklet stands here, as it stood when pickled, and the
        # kernel resumes it as from the call it was suspended in.
        t = self.tasklet
        t._journal = None
        self.origin.switch()
        if p[0] == PREEMPT:  # it stood before this call: the call runs now
            self._done(PREEMPT, None, None, True, None)
            return self._run(kind, chan, fp, op, *args)
        v = t.tempval
        t.tempval = None
        if v.__class__ is bomb:
            try:
                v.raise_()
            except BaseException as e:
                self._done(kind, chan, fp, False, e)
                raise
        result = None if kind.startswith("send") else v
        self._done(kind, chan, fp, True, freeze(result))
        return result

    def diverge_at_next(self, actual: str) -> NoReturn:
        """Replay went wrong where the code did ``actual`` instead of its next call."""
        i = self.cursor or 0
        while i < len(self.entries) and self.entries[i][0] == PREEMPT:
            i += 1
        e = self.entries[i][:3] if i < len(self.entries) else self.pending
        self.diverge(i, describe(*e) if e else "nothing more", actual)

    def diverge(self, step: int, expected: str, actual: str) -> NoReturn:
        """Replay went wrong: back to whoever started it, for good (never returns)."""
        self.fail(ReplayDivergence(self.base + step, expected, actual))

    def fail(self, error: BaseException) -> NoReturn:
        self.failure = error
        self.cursor = None
        self.origin.switch()
        raise AssertionError("a failed replay was resumed")  # pragma: no cover

    def start_replay(self) -> None:
        self.cursor = 0
        self.origin = greenlet.getcurrent()
        self.failure = None


__all__ = ["NOTHING", "Frozen", "Journal", "describe", "fingerprint", "freeze",
           "keep_by_reference", "thaw"]
