"""Client-side prediction of the own ship: it moves at once when a key is pressed, and each
snapshot's `input_ack` puts it back on the server's track. Pure: no pygame, no sockets.

The client steps the ship one tick per INPUT it sends (the server applies about one INPUT a
tick, since `net.Client` paces them at the tick rate). When a snapshot says the server has
applied INPUTs up to `input_ack`, the prediction restarts from the server's ship in that
snapshot and replays the INPUTs not applied yet: then it is where the server will be once
those arrive. The jump a correction causes is not shown at once: the drawn position carries
the difference and lets it fade (`smoothing` per second), unless it is larger than `snap`.

    p = Predictor(tick_rate=30, bounds=(2000, 2000), step=stepper_for(own_ship.fields))
    seq = client.send_input(move.payload()); p.step(seq, move)     # once per tick
    p.reconcile(server_ship_state, client.mirror.input_ack)       # once per snapshot
    x, y = p.drawn(frame_dt, alpha)                                # once per frame
"""

from __future__ import annotations

import math

from demos.client.interp import wrap_delta
from demos.client.ship import Move, ShipState, Step, step_ship

__all__ = ["Predictor"]


class Predictor:
    """The predicted own ship (see the module). `state` is None until `reconcile` gave it
    the server's ship once."""

    def __init__(self, tick_rate: float, bounds: tuple[float, float] | None, *,
                 wrap: bool = True, step: Step = step_ship, smoothing: float = 10.0,
                 snap: float = 120.0, max_pending: int = 256) -> None:
        self.dt = 1.0 / tick_rate
        self.bounds = bounds if wrap else None
        self._step = step
        self.smoothing, self.snap = smoothing, snap
        self.max_pending = max_pending
        self.state: ShipState | None = None
        self.previous: ShipState | None = None  # before the last step, for drawing between
        self.pending: list[tuple[int, Move]] = []
        """INPUTs sent but not applied by the server yet: (seq, move), one per seq."""
        self.offset = (0.0, 0.0)  # drawn minus predicted: the correction still fading
        self.corrections = 0
        self.last_error = 0.0
        """How far the last reconcile moved the prediction (world units)."""

    def reset(self) -> None:
        self.state = self.previous = None
        self.pending.clear()
        self.offset = (0.0, 0.0)

    def step(self, seq: int, move: Move) -> None:
        """One tick under `move`, sent as INPUT `seq` (the same seq again: the paced INPUT
        still waiting was replaced, and this tick joins it)."""
        if self.pending and self.pending[-1][0] == seq:
            self.pending[-1] = (seq, move)
        else:
            self.pending.append((seq, move))
            del self.pending[:-self.max_pending]
        if self.state is not None:
            self.previous = self.state
            self.state = self._step(self.state, move, self.dt, self.bounds)

    def reconcile(self, server: ShipState, input_ack: int) -> None:
        """Restart from the server's ship (`server`, as of a snapshot whose INPUT ack is
        `input_ack`) and replay the INPUTs it has not applied."""
        self.pending = [(s, m) for s, m in self.pending if s > input_ack]
        state = server
        for _, move in self.pending:
            state = self._step(state, move, self.dt, self.bounds)
        old = self.state
        if old is not None:
            dx, dy = self._delta(old.x, state.x, 0), self._delta(old.y, state.y, 1)
            self.last_error = math.hypot(dx, dy)
            ox, oy = self.offset[0] - dx, self.offset[1] - dy
            if self.last_error > 1e-6:
                self.corrections += 1
            self.offset = (0.0, 0.0) if math.hypot(ox, oy) > self.snap else (ox, oy)
        self.state = self.previous = state

    def drawn(self, frame_dt: float, alpha: float = 1.0) -> tuple[float, float, float] | None:
        """Where to draw the ship this frame, (x, y, heading): `alpha` of the way from the
        previous step to the current one, plus the fading correction. `frame_dt` (seconds)
        fades it."""
        state, prev = self.state, self.previous
        if state is None:
            return None
        prev = prev or state
        fade = math.exp(-self.smoothing * max(0.0, frame_dt))
        self.offset = (self.offset[0] * fade, self.offset[1] * fade)
        x = prev.x + self._delta(prev.x, state.x, 0) * alpha + self.offset[0]
        y = prev.y + self._delta(prev.y, state.y, 1) * alpha + self.offset[1]
        if self.bounds is not None:
            x, y = x % self.bounds[0], y % self.bounds[1]
        turn = wrap_delta(state.heading - prev.heading, 2 * math.pi)
        return x, y, (prev.heading + turn * alpha) % (2 * math.pi)

    def _delta(self, a: float, b: float, axis: int) -> float:
        return wrap_delta(b - a, None if self.bounds is None else self.bounds[axis])
