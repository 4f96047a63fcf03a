"""Loom's dedicated server: `python -m server` runs a world module for network clients.

`Server` is the process (the tick loop gluing `sim` and `net`), `Config` and `parse_config`
its settings (one defaults table, server/defaults.py), `Sessions` the clients across
reconnections. The built-in world is `server.sandbox`.

A world module (`--world mygame.world`) has `setup`, `on_join` and `on_leave` (see
`sim.load_world_module`) and, optionally, the spectator hooks (both or neither), so that
sessions without an avatar hear its broadcast EVENTs::

    def on_spectate(world, session) -> None:
        # `session` watches without an avatar (HELLO.spectate, or its avatar was
        # despawned): keep it and send it your broadcasts (session.send_event).
        ...

    def on_spectator_leave(world, session, reason) -> None:
        # that session ended (on_leave is only for sessions with a live avatar).
        ...

(`server.sessions.spectator_hooks` has the details; `demos.arena` uses them.)

Names load on first use, so `python -m server.token` starts without the kernel.
"""

from __future__ import annotations

import importlib

_LAZY = {"Server": "server.app", "StartupError": "server.app", "Config": "server.config",
         "ConfigError": "server.config", "parse_config": "server.config",
         "CloseReason": "server.session", "Session": "server.session",
         "Sessions": "server.sessions"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["CloseReason", "Config", "ConfigError", "Server", "Session", "Sessions",
           "StartupError", "parse_config"]
