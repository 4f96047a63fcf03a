"""The dedicated server: a world module on a `sim.World`, clients on a `net.Pump`, and the
tick loop that glues them. `Server(config)` binds and loads everything; `run()` ticks until
`request_stop()` (SIGTERM/SIGINT), then says BYE to every client.

Each tick, on the main tasklet::

  5 wait       until the tick is due
  1 deliver    one poll of the sockets (accepts, reads, network timers); HELLOs and closed
               connections are settled (on_join / on_leave, and the spectator hooks); the
               connection tasklets the poll woke decode at the start of the step and hand
               their sessions' checked INPUTs to the avatars' inboxes
  2-3 step     world.step(): sim timers, behaviours round-robin within the tick budget
               (hard preemption), motion, dilation; then the sessions whose avatar the
               step despawned become spectators (on_spectate)
  4 sync       every tick hook runs (metrics and admin commands: server/ops.py); on
               snapshot ticks each client gets its SNAPSHOT; one send() per client
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sim
from server import _snapshots
from server.auth import AuthError, load_secret
from server.config import Config, world_module_name
from server.ops import Ops
from server.session import Session, check_movement
from server.sessions import Sessions, spectator_hooks

if TYPE_CHECKING:  # net.Pump loads lazily: mypy sees it where it lives
    from net._pump import Pump
else:
    from net import Pump

__all__ = ["Server", "StartupError"]

log = logging.getLogger("loom.server")

MAX_WAIT = 0.05
"""Longest single wait for sockets: a stop request is noticed at least this quickly."""


class StartupError(Exception):
    """The server cannot start with this configuration (a world module that does not load,
    a secret it cannot read); the message is one line."""


def call_result(session: Session, seq: int, result: Any) -> None:
    """A CALL's return value (None too) goes back as RESULT(seq, value)."""
    session.send_result(seq, result)


class Server:
    """One world served on one port. Build it (it binds; OSError if the port is taken), then
    `run()` on the main thread's main tasklet.

    `tick_hooks` are called once per tick on the main tasklet, after the world stepped and
    before snapshots: metrics, the admin console and checkpoints hang there.
    """

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.started = clock()
        self.tick_hooks: list[Callable[[Server], None]] = []
        self._stopping: list[str] = []
        name = world_module_name(config.world)
        try:
            module = sim.load_world_module(name)
        except sim.WorldModuleError as exc:
            raise StartupError(str(exc)) from None
        except Exception as exc:  # it imported, and its own top-level code raised
            raise StartupError(f"world module {name!r} failed to load: "
                               f"{type(exc).__name__}: {exc}") from exc
        try:
            spectator_hooks(module)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        secret = None
        if config.auth == "token":
            try:
                secret = load_secret(config.secret_file, config.data_dir)
            except AuthError as exc:
                raise StartupError(str(exc)) from None
        sim.set_preemption("deterministic" if config.deterministic else "hard",
                           slice_seconds=config.slice_ms / 1000.0)
        self.world = sim.World(seed=config.seed, tick_rate=config.tick_rate,
                               deterministic=config.deterministic,
                               dilation_floor=config.dilation_floor,
                               inbox_capacity=config.inbox_capacity)
        try:
            module.setup(self.world, dict(config.world_args))
        except Exception as exc:
            self._undo()
            raise StartupError(f"{module.name}.setup failed: {exc}") from exc
        check_input: Callable[[Any], Any] = getattr(module.module, "parse_input",
                                                    check_movement)
        self.sessions = Sessions(self.world, module, grace=config.resume_grace,
                                 rates=(config.tick_rate, config.snapshot_rate),
                                 server_time=self.server_time, secret=secret,
                                 check_input=check_input, call_result=call_result,
                                 clock=clock)
        try:
            self.pump = Pump(config.host, config.port, limits=config.limits,
                             on_close=self.sessions.on_close, linger=config.linger)
        except BaseException:
            self._undo()
            raise
        self.snapshots = _snapshots.Snapshots(self.world, config.view_radius)
        try:  # binds the admin port (metrics bind in ops.start(), once the server prints)
            self.ops = Ops(self.world, self.pump, host=config.host,
                           metrics_port=config.metrics_port, admin_port=config.admin_port,
                           admin_token_file=config.admin_token_file, data_dir=config.data_dir,
                           clients=lambda: self.sessions.connected,
                           drops=lambda: {"refused": self.sessions.refused()})
        except BaseException as exc:
            self.pump.close()
            self._undo()
            if isinstance(exc, ValueError):  # AdminError: a non-loopback host, no token
                raise StartupError(str(exc)) from None
            raise
        self.tick_hooks.append(_ops_tick)
        self.last_tick_seconds: float | None = None
        """Wall time of the last whole tick's work (deliver, step, hooks, sync)."""
        self.snapshots_sent = 0
        self._snapshot_period = 1.0 / config.snapshot_rate
        self._next_snapshot = 0.0  # simulation time of the next snapshot

    @property
    def address(self) -> tuple[str, int]:
        return self.pump.address

    def server_time(self) -> float:
        """Seconds since the server started, monotonic (WELCOME and SNAPSHOT server_time)."""
        return self.clock() - self.started

    def request_stop(self, why: str = "stop requested") -> None:
        """Stop after the current tick (safe from a signal handler: it only sets a flag)."""
        if not self._stopping:
            self._stopping.append(why)

    @property
    def stopping(self) -> bool:
        return bool(self._stopping)

    # ---- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Tick until `request_stop()`, then shut down: no new clients, BYE to each one,
        every session ended (on_leave with SHUTDOWN), the world closed."""
        try:
            while not self._stopping:
                self.tick()
            log.info("%s: shutting down", self._stopping[0])
        finally:
            self.close()

    def tick(self) -> None:
        """One pass of the loop: wait for the tick's deadline, then the tick itself."""
        world, pump, sessions, clock = self.world, self.pump, self.sessions, self.clock
        # 5 wait (the previous tick's, before this one) until the tick is due.
        deadline = world.next_deadline()
        while not self._stopping:
            left = deadline - clock()
            if left <= 0:
                break
            time.sleep(min(left, MAX_WAIT))
        # 1 deliver: one poll of every socket per tick (accepts, one read per client, the
        # network timers), right before the step that runs the connection tasklets it woke.
        # Polling again before they ran would find their reads paused (they are still busy
        # with the last bytes), and a client's last message before it hangs up unread.
        start = time.perf_counter()
        pump.poll(0)
        world.wall.poll()  # grace windows that ran out (wall clock)
        sessions.settle(pump.inbox)
        # 2-3 timers and behaviours (the connection tasklets run first)
        world.step()
        sessions.notice_lost_avatars()  # (on_spectate for avatars the step despawned)
        sessions.settle(pump.inbox)  # HELLOs decoded in the step get WELCOME this tick
        for hook in self.tick_hooks:
            try:
                hook(self)
            except Exception:
                log.exception("tick hook %r failed", hook)
        # 4 sync
        if world.time + 1e-9 >= self._next_snapshot:
            self._next_snapshot = max(self._next_snapshot + self._snapshot_period, world.time)
            self.snapshots_sent += self.snapshots.send(sessions, self.server_time())
        pump.flush()
        self.last_tick_seconds = time.perf_counter() - start

    def close(self) -> None:
        """Stop accepting, BYE to every client (after its queued output), end every session,
        close the world. Idempotent."""
        if self.world.closed:
            return
        self.ops.close()  # no admin command may run on a world being closed
        self.sessions.stopping = True
        self.pump.shutdown("server stopping")
        self.sessions.settle(self.pump.inbox)
        self.sessions.end_all(sim.LeaveReason.SHUTDOWN)
        self._undo()

    def _undo(self) -> None:
        self.world.close()
        sim.reset()  # the connection tasklets the world did not own
        sim.set_preemption("deterministic")  # gives the SIGALRM timer back


def _ops_tick(server: Server) -> None:
    """The tick hook of the operator side: the last tick's time to the metrics, a metrics
    sample when due, the admin commands waiting."""
    server.ops.tick(tick_seconds=server.last_tick_seconds)
