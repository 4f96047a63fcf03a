"""The admin console's commands: what each does to the world, run by the tick loop on the main
tasklet (the console's I/O thread only queues them; see server/admin.py).

Each command takes a dict of arguments and returns a dict (the reply, ``ok`` added by the
console); a bad argument or an unknown entity raises ``CommandError``, which the console
turns into ``{"ok": false, "error": ...}``.  ``COMMANDS`` is the table the console parses
plain lines with and ``help`` prints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sim

from .metrics import PumpLike, collect
from .top import SORT_KEYS, TopSampler

__all__ = ["COMMANDS", "AdminCommands", "CommandError", "CommandSpec"]

log = logging.getLogger("loom.server.admin")

#: At most this many entities in one ``entities`` reply.
MAX_LIST = 1000


class CommandError(Exception):
    """A command could not run: a bad argument, an unknown entity.  The message says which."""


@dataclass(frozen=True)
class CommandSpec:
    """A command's name, its positional arguments (in a plain line) and one line of help."""

    name: str
    args: tuple[str, ...]
    doc: str


COMMANDS: dict[str, CommandSpec] = {c.name: c for c in (
    CommandSpec("auth", ("token",), "auth TOKEN: the first line of every connection"),
    CommandSpec("help", (), "help: the commands"),
    CommandSpec("status", (), "status: tick, dilation, entities by kind, clients, counters"),
    CommandSpec("entities", ("kind", "limit"),
                "entities [KIND] [LIMIT=100]: live entities by id (id, kind, pos, vel)"),
    CommandSpec("inspect", ("id",), "inspect ID: one entity's state, CPU and supervision"),
    CommandSpec("kill", ("id",), "kill ID: despawn the entity (its behaviours end)"),
    CommandSpec("quarantine", ("id",), "quarantine ID: hold its behaviours until release"),
    CommandSpec("release", ("id",), "release ID: let its quarantined behaviours run again"),
    CommandSpec("log-level", ("level", "logger"),
                "log-level LEVEL [LOGGER]: DEBUG/INFO/WARNING/ERROR for LOGGER (default: all)"),
    CommandSpec("top", ("limit", "sort"),
                "top [LIMIT=20] [SORT=cpu|switches|preemptions|time|id]: tasklets' CPU share,"
                " switches, preemptions since this connection's last top"),
    CommandSpec("quit", (), "quit: close the connection"),
)}


def _int_arg(args: dict[str, Any], name: str, default: int | None = None) -> int:
    value = args.get(name, default)
    if value is None:
        raise CommandError(f"{name} is required")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"{name} must be an integer, got {value!r}")
    return value


class AdminCommands:
    """Runs the console's commands against ``world`` (and ``pump``, for clients and bytes).

    ``clients`` counts connected clients if the server knows better than the pump (its
    sessions).  Call :meth:`execute` from the thread that steps the world, between ticks.
    """

    def __init__(self, world: sim.World, pump: PumpLike | None = None, *,
                 clients: Callable[[], int] | None = None,
                 drops: Callable[[], Mapping[str, int]] | None = None,
                 wall: Callable[[], float] = time.monotonic,
                 process_cpu: Callable[[], float] = time.process_time) -> None:
        self.world = world
        self.pump = pump
        self._clients = clients
        self._drops = drops
        self._wall = wall
        self._process_cpu = process_cpu
        self._started = (wall(), process_cpu())

    def execute(self, cmd: str, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        """Run ``cmd`` with ``args``; ``session`` is the connection's own state (its top
        sampler).  Raises CommandError for an unknown command or a bad argument."""
        fn = getattr(self, "cmd_" + cmd.replace("-", "_"), None)
        if fn is None or cmd not in COMMANDS:
            raise CommandError(f"unknown command {cmd!r}; try help")
        result: dict[str, Any] = fn(args, session)
        return result

    # ------------------------------------------------------------------ the commands

    def cmd_help(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        return {"commands": [c.doc for c in COMMANDS.values()]}

    def cmd_status(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        w = self.world
        sample = collect(w, self.pump, uptime_s=self._wall() - self._started[0],
                         clients=self._clients() if self._clients else None,
                         drops=self._drops() if self._drops else None)
        return {**sample.as_json(), "tick_rate": w.tick_rate, "mode": sim.preemption_mode(),
                "world": w.module_name,
                "quarantined_behaviours": [[e.id, name] for e, name in w.quarantined()]}

    def cmd_entities(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        kind = args.get("kind")
        if kind is not None and not isinstance(kind, str):
            raise CommandError(f"kind must be a string, got {kind!r}")
        limit = _int_arg(args, "limit", 100)
        if not 0 <= limit <= MAX_LIST:
            raise CommandError(f"limit must be within 0..{MAX_LIST}, got {limit}")
        ents = self.world.entities(kind)
        return {"total": len(ents), "entities": [
            {"id": e.id, "kind": e.kind, "pos": list(e.pos), "vel": list(e.vel)}
            for e in ents[:limit]]}

    def cmd_inspect(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        e = self._entity(args)
        held = [name for q, name in self.world.quarantined() if q is e]
        return {"entity": {"id": e.id, **e.state()}, "statistics": asdict(e.statistics()),
                "quarantined": held}

    def cmd_kill(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        e = self._entity(args)
        self.world.despawn(e)
        log.warning("admin: killed entity %d (%s)", e.id, e.kind)
        return {"killed": e.id, "kind": e.kind}

    def cmd_quarantine(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        e = self._entity(args)
        names = self.world.suspend(e)
        held = [name for q, name in self.world.quarantined() if q is e]
        if not held:
            raise CommandError(f"entity {e.id} has no live behaviour to quarantine")
        return {"id": e.id, "quarantined": names, "held": held}

    def cmd_release(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        e = self._entity(args)
        names = self.world.release(e)
        if not names:
            raise CommandError(f"entity {e.id} has no quarantined behaviour")
        return {"id": e.id, "released": names}

    def cmd_log_level(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        level = str(args.get("level", "")).upper()
        levels = logging.getLevelNamesMapping()
        if level not in levels or level == "NOTSET":
            raise CommandError("level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
                               f"got {args.get('level')!r}")
        name = args.get("logger") or ""
        if not isinstance(name, str):
            raise CommandError(f"logger must be a logger name, got {name!r}")
        logger = logging.getLogger(name)
        old = logging.getLevelName(logger.getEffectiveLevel())
        logger.setLevel(levels[level])
        log.warning("admin: log level of %s set to %s (was %s)", name or "root", level, old)
        return {"logger": name or "root", "level": level, "was": old}

    def cmd_top(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        limit = _int_arg(args, "limit", 20)
        sort = args.get("sort") or "cpu"
        if sort not in SORT_KEYS:
            raise CommandError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
        if not 0 <= limit <= MAX_LIST:
            raise CommandError(f"limit must be within 0..{MAX_LIST}, got {limit}")
        sampler = session.get("top")
        if sampler is None:
            sampler = session["top"] = TopSampler(*self._started)
        view = sampler.view(sim.tasklets(), self._wall(),
                            self._process_cpu(), limit=limit, sort=sort)
        w = self.world
        return {"tick": w.tick, "dilation": w.dilation, "mode": sim.preemption_mode(),
                **view.as_json()}

    def cmd_quit(self, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        return {"bye": True}

    # ------------------------------------------------------------------ helpers

    def _entity(self, args: dict[str, Any]) -> sim.Entity:
        eid = _int_arg(args, "id")
        e = self.world.get(eid)
        if e is None:
            raise CommandError(f"no entity {eid}")
        return e
