"""The server's operator side in one piece: the metrics endpoint and the admin console,
started from the configuration and fed by the tick loop once per tick.

    ops = Ops(world, pump, host=cfg.host, metrics_port=cfg.metrics_port,
              admin_port=cfg.admin_port, admin_token_file=cfg.admin_token_file,
              data_dir=cfg.data_dir)
    for line in ops.start():
        print(line, flush=True)           # "metrics on HOST:PORT", "admin on HOST:PORT"
    while running:
        ...one tick...                    # deliver input, world.step(), sync
        ops.tick(tick_seconds=elapsed)    # on the main tasklet: samples, admin commands
    ops.close()
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import sim

from .admin import AdminConsole, admin_token
from .commands import AdminCommands
from .metrics import Metrics, PumpLike

__all__ = ["ListenError", "Ops"]

log = logging.getLogger("loom.server.ops")


class ListenError(Exception):
    """A metrics or admin port could not be bound; the message names it and says why."""


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class Ops:
    """Metrics (when ``metrics_port`` is not None) and the admin console (when
    ``admin_port`` is not None) of one server; port 0 picks a free one.

    Metrics listen on ``host`` (the server's own host: a Prometheus server elsewhere may
    scrape them); the admin console on ``admin_host``, which must be a loopback address.
    ``clients`` counts the server's clients (default: the pump's connections), ``drops``
    its own drop counts by reason (added to the world's and the pump's).  Both are asked
    only when a sample is gathered (once a second) or the console's ``status`` runs.  A bad admin
    host or token raises AdminError here, a port in use ListenError (here for the admin
    console, from ``start`` for metrics).
    """

    def __init__(self, world: sim.World, pump: PumpLike | None = None, *,
                 host: str = "127.0.0.1", metrics_port: int | None = None,
                 admin_port: int | None = None, admin_host: str = "127.0.0.1",
                 admin_token_file: str | os.PathLike[str] | None = None,
                 data_dir: str | os.PathLike[str] | None = None,
                 clients: Callable[[], int] | None = None,
                 drops: Callable[[], Mapping[str, int]] | None = None) -> None:
        self.world = world
        self.pump = pump
        self._clients = clients
        self._drops = drops
        self.metrics: Metrics | None = None
        self.admin: AdminConsole | None = None
        self.token_source: str | None = None
        self._host = host
        self._metrics_port = metrics_port
        if admin_port is not None:  # a bad host or token fails here, before anything listens
            token, self.token_source = admin_token(admin_token_file, data_dir)
            commands = AdminCommands(world, pump, clients=clients, drops=drops)
            try:
                self.admin = AdminConsole(token, commands.execute, admin_host, admin_port)
            except OSError as exc:
                raise ListenError(f"cannot serve the admin console on {admin_host}:"
                                  f"{admin_port}: {_reason(exc)}") from None

    def start(self) -> list[str]:
        """Start listening; returns the lines the server prints ("metrics on HOST:PORT",
        "admin on HOST:PORT").  ListenError if a port cannot be bound (nothing is left
        listening then)."""
        lines = []
        if self._metrics_port is not None:
            self.metrics = Metrics()
            try:
                host, port = self.metrics.serve(self._host, self._metrics_port)
            except OSError as exc:
                self.close()
                raise ListenError(f"cannot serve metrics on {self._host}:{self._metrics_port}"
                                  f": {_reason(exc)}") from None
            lines.append(f"metrics on {host}:{port}")
        if self.admin is not None:
            host, port = self.admin.start()
            lines.append(f"admin on {host}:{port}")
            log.info("admin token from %s", self.token_source)
        return lines

    def tick(self, tick_seconds: float | None = None) -> None:
        """Once per tick, on the main tasklet, between ticks: observe the tick time, gather
        a metrics sample when due, run the admin commands that are waiting."""
        if self.metrics is not None:
            self.metrics.update(self.world, self.pump, tick_seconds=tick_seconds,
                                clients=self._clients, drops=self._drops)
        if self.admin is not None:
            self.admin.run_pending()

    def close(self) -> None:
        """Stop both listeners (idempotent)."""
        if self.admin is not None:
            self.admin.close()
        if self.metrics is not None:
            self.metrics.close()
