"""The game loop: keys → a fixed-step update at the server's tick rate (prediction, INPUT)
→ one non-blocking network poll → draw the world as it was ~2 snapshots ago, the own ship
as predicted now → HUD → `clock.tick(fps)`.

    app = App(Options(host="127.0.0.1", port=7777, headless=True, frames=120))
    code = app.run()          # 0, or 1 when the server refused us or sent nothing
    app.renderer.drawn        # what the last frame drew; app.hud.lines: its numbers
"""

from __future__ import annotations

import collections
import dataclasses
import math
import statistics
import sys
import time
from typing import Protocol

import pygame

from demos.client.autopilot import autopilot
from demos.client.effects import Particles, Starfield
from demos.client.hud import Hud, HudNumbers
from demos.client.interp import Pose, RenderClock, Timeline
from demos.client.link import Link
from demos.client.predict import Predictor
from demos.client.render import Camera, Renderer, number
from demos.client.ship import Move, ShipState, stepper_for
from net import Error, Event, Message, Snapshot

__all__ = ["App", "Options", "keys_to_move"]

CAMERA_SPEED = 700.0  # world units per second of a spectator's free camera
CAMERA_SENDS = 10.0  # camera INPUTs per second at most
FIRST_SNAPSHOT_WAIT = 10.0  # seconds: --frames counts from the first snapshot


@dataclasses.dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 7777
    name: str = "pilot"
    spectate: bool = False
    headless: bool = False
    frames: int | None = None  # stop after this many frames with a snapshot (None: never)
    screenshot: str | None = None
    size: tuple[int, int] = (1280, 720)
    zoom: float = 0.65  # pixels per world unit
    fps: int = 60
    autopilot: bool = False  # the ship flies itself (demos.client.autopilot)


class Keys(Protocol):
    """What pygame.key.get_pressed() returns: held or not, by key code."""

    def __getitem__(self, key: int) -> bool: ...


def keys_to_move(keys: Keys) -> Move:
    """The movement the held keys ask for (`keys`: pygame.key.get_pressed()): W / up full
    thrust, S / down half reverse thrust (a brake), A / left and D / right turn, space fire."""
    up = keys[pygame.K_w] or keys[pygame.K_UP]
    down = keys[pygame.K_s] or keys[pygame.K_DOWN]
    left = keys[pygame.K_a] or keys[pygame.K_LEFT]
    right = keys[pygame.K_d] or keys[pygame.K_RIGHT]
    return Move(thrust=float(up) - 0.5 * float(down), turn=float(left) - float(right),
                fire=bool(keys[pygame.K_SPACE]))


class App:
    """The client (see the module). Build it after SDL's video driver is chosen."""

    def __init__(self, options: Options) -> None:
        self.options = options
        pygame.display.init()
        pygame.font.init()
        self.screen = pygame.display.set_mode(options.size)
        pygame.display.set_caption(f"Loom arena - {options.host}:{options.port}")
        font, small = pygame.font.Font(None, 26), pygame.font.Font(None, 20)
        self.stars = Starfield(options.size)
        self.particles = Particles()
        self.renderer = Renderer(font, small)
        self.hud = Hud(font, small)
        self.link = Link(options.host, options.port, options.name, spectate=options.spectate)
        self.clock = pygame.time.Clock()
        self.render_clock = RenderClock(delay=0.1)
        self.timeline: Timeline | None = None
        self.predictor: Predictor | None = None
        self.camera = Camera(options.size, options.zoom, None, False)
        self.move = Move()
        self.frames = 0
        # Seconds of work per frame (the sleep excluded), and CPU seconds per frame (which
        # other processes do not inflate): the last ten minutes' worth at 60 fps.
        self.frame_times: collections.deque[float] = collections.deque(maxlen=36_000)
        self.frame_cpu: collections.deque[float] = collections.deque(maxlen=36_000)
        self.poses: dict[int, Pose] = {}
        self.render_time: float | None = None  # the simulation time the last frame showed
        self.score = 0
        self.spectating = options.spectate
        self.camera_refused = False
        self._acc = 0.0
        self._last = time.monotonic()
        self._camera_sent = (math.nan, math.nan)
        self._camera_at = 0.0
        self._counts = (0, 0)  # link.resumed, link.fresh as last seen
        self._first_snapshot: float | None = None
        self.running = True

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        self.link.start()
        started = time.monotonic()
        code = 0
        try:
            while self.running:
                self.frame()
                if self.link.status == "failed":
                    print(f"demos.client: cannot connect to {self.options.host}:"
                          f"{self.options.port}: {self.link.error}", file=sys.stderr)
                    code = 1
                    break
                if self._first_snapshot is None and self.options.frames is not None and \
                        time.monotonic() - started > FIRST_SNAPSHOT_WAIT:
                    print("demos.client: no snapshot from the server within "
                          f"{FIRST_SNAPSHOT_WAIT:g} s", file=sys.stderr)
                    code = 1
                    break
                if self.options.frames is not None and self.frames >= self.options.frames:
                    break
            if self.options.screenshot and code == 0:
                pygame.image.save(self.screen, self.options.screenshot)
        finally:
            self.link.close()
        return code

    def frame(self, network: bool = True) -> None:
        """One frame; `network=False` skips the poll (tests let the view settle)."""
        begin, cpu = time.monotonic(), time.process_time()
        dt = min(0.25, begin - self._last)
        self._last = begin
        self._keys(dt)
        self._fixed_steps(dt)
        if network:
            for message in self.link.poll(begin):
                self._handle(message, begin)
        self._connection_banner(begin)
        self._draw(begin, dt)
        if self._first_snapshot is not None:
            self.frames += 1
            self.frame_times.append(time.monotonic() - begin)
            self.frame_cpu.append(time.process_time() - cpu)
        pygame.display.flip()
        self.clock.tick(self.options.fps)

    # ---- input and simulation -----------------------------------------------------------

    def _keys(self, dt: float) -> None:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and
                                             event.key == pygame.K_ESCAPE):
                self.running = False
        move = keys_to_move(pygame.key.get_pressed())
        if self.spectating:
            if not self.camera_refused and self.camera.bounds is not None:
                step = CAMERA_SPEED * dt  # the keys' turn is left/right, thrust up/down
                up = (move.thrust > 0) - (move.thrust < 0)
                x, y = self.camera.centre
                w, h = self.camera.bounds
                self.camera.centre = ((x - move.turn * step) % w, (y + up * step) % h)
            return
        self.move = move
        if self.options.autopilot and self.move == Move():
            me = self.predictor.drawn(0.0) if self.predictor is not None else None
            if me is not None:
                self.move = autopilot(me, self.poses.values(), self.link.client.avatar,
                                      self.camera.bounds if self.camera.wrap else None)

    def _fixed_steps(self, dt: float) -> None:
        """One INPUT and one predicted step per server tick of simulation time."""
        client = self.link.client
        if not self.link.ready or client.welcome is None:
            return
        if self.spectating:
            self._send_camera()
            return
        tick = 1.0 / client.welcome.tick_rate
        self._acc += dt * client.mirror.time_scale
        while self._acc >= tick:
            self._acc -= tick
            seq = client.send_input(self.move.payload())
            if self.predictor is not None:
                self.predictor.step(seq, self.move)

    def _send_camera(self) -> None:
        now = time.monotonic()
        x, y = self.camera.centre
        if self.camera_refused or (x, y) == self._camera_sent or \
                now - self._camera_at < 1.0 / CAMERA_SENDS:
            return
        self.link.client.send_input({"camera": [x, y]})
        self._camera_sent, self._camera_at = (x, y), now

    # ---- network ------------------------------------------------------------------------

    def _handle(self, message: Message, now: float) -> None:
        client = self.link.client
        if isinstance(message, Snapshot):
            if client.mirror.num != message.num:
                return  # not applied (an unknown base): nothing new to show
            if self.timeline is None:
                self._welcomed()
            assert self.timeline is not None
            mirror = client.mirror
            self.timeline.push(mirror.tick, mirror.entities.values())
            self.render_clock.observe(now, mirror.tick / mirror.tick_rate, mirror.time_scale)
            if self._first_snapshot is None:
                self._first_snapshot = now
            self._reconcile()
        elif isinstance(message, Event) and isinstance(message.payload, dict):
            self.handle_event(message.payload, now)
        elif isinstance(message, Error) and message.ref is not None:
            if self.spectating and message.message.startswith("INPUT"):
                self.camera_refused = True
                self.hud.say(now, "this server keeps the spectator view fixed", 5)

    def _welcomed(self) -> None:
        welcome = self.link.client.welcome
        assert welcome is not None
        bounds, wrap = welcome.bounds, welcome.wrap
        self.timeline = Timeline(bounds, wrap, welcome.tick_rate)
        self.render_clock = RenderClock(delay=2.0 / welcome.snapshot_rate)
        self.camera = Camera(self.options.size, self.options.zoom, bounds, wrap)
        if welcome.avatar is None:
            self.spectating = True
        self.hud.help = ("WASD / arrows: camera   Esc: quit" if self.spectating else
                         "W/up thrust  S/down brake  A D / arrows turn  space fire  Esc quit")

    def _reconcile(self) -> None:
        client = self.link.client
        own = None if client.avatar is None else client.mirror.get(client.avatar)
        if own is None or self.spectating:
            return
        fields = own.fields
        if isinstance(score := fields.get("score"), int):
            self.score = score
        if fields.get("in_play", fields.get("alive", True)) is False:
            self.predictor = None  # waiting to respawn: drawn as the server has it
            return
        welcome = client.welcome
        assert welcome is not None
        if self.predictor is None:
            self.predictor = Predictor(welcome.tick_rate, welcome.bounds, wrap=welcome.wrap,
                                       step=stepper_for(fields))
        state = ShipState(own.pos[0], own.pos[1], own.vel[0], own.vel[1],
                          number(fields.get("heading"), 0.0))
        self.predictor.reconcile(state, client.mirror.input_ack)

    def handle_event(self, payload: dict[str, object], now: float) -> None:
        """An EVENT of the arena (boom, quarantined, kill, score); others are ignored."""
        kind = payload.get("type")
        if kind == "boom":
            pos = payload.get("pos")
            if isinstance(pos, list) and len(pos) == 2:
                x, y = number(pos[0], math.nan), number(pos[1], math.nan)
                if math.isfinite(x) and math.isfinite(y):
                    self.particles.explode((x, y), number(payload.get("size"), 20.0))
        elif kind == "quarantined":
            self.hud.quarantined(payload)
            self.hud.say(now, f"the world quarantined {payload.get('kind')} "
                              f"#{payload.get('id')}", 4)
        elif kind == "kill":
            self.hud.kill(now, payload)
            if payload.get("victim") == self.link.client.avatar and self.link.client.avatar:
                self.hud.say(now, f"destroyed by {payload.get('killer_name')}", 3)
        elif kind == "score" and payload.get("id") == self.link.client.avatar:
            if isinstance(score := payload.get("score"), int):
                self.score = score

    def _connection_banner(self, now: float) -> None:
        link = self.link
        if link.status == "connecting":
            self.hud.banner = (f"connecting to {self.options.host}:{self.options.port} ...",
                               (200, 220, 255))
        elif link.status == "reconnecting":
            self.hud.banner = (f"connection lost ({link.drop_reason}) - reconnecting with the "
                               f"resume token, attempt {max(1, link.attempts)} ...",
                               (255, 200, 90))
        else:
            self.hud.banner = None
        if (link.resumed, link.fresh) != self._counts:
            fresh = link.fresh != self._counts[1]
            self._counts = (link.resumed, link.fresh)
            self.render_clock.reset()
            if fresh:  # a new session: new avatar, numbering from 1
                self.timeline = None
                self.predictor = None
            self.hud.say(now, "reconnected: a new session" if fresh else
                         "reconnected: session resumed (same ship)", 4)

    # ---- drawing ------------------------------------------------------------------------

    def _draw(self, now: float, dt: float) -> None:
        client = self.link.client
        render_t = self.render_time = self.render_clock.advance(now)
        poses = self.poses = {} if self.timeline is None or render_t is None else \
            self.timeline.sample(render_t)
        own_id = None if self.spectating else client.avatar
        thrusting: set[int] = set()
        if own_id is not None and own_id in poses and self.predictor is not None:
            tick = 1.0 / client.mirror.tick_rate
            drawn = self.predictor.drawn(dt, min(1.0, self._acc / tick))
            if drawn is not None:
                x, y, heading = drawn
                poses[own_id] = dataclasses.replace(poses[own_id], x=x, y=y, heading=heading)
                self.camera.centre = (x, y)
                if self.move.thrust > 0:
                    thrusting.add(own_id)
                    for _ in range(2):
                        self.particles.exhaust((x - math.cos(heading) * 12,
                                                y - math.sin(heading) * 12), heading)
        elif self.spectating and self.camera_refused and self.camera.bounds is not None:
            # The view stays where the server puts it: around the avatar it gave us anyway,
            # else the middle of the world.
            held = None if client.avatar is None else poses.get(client.avatar)
            w, h = self.camera.bounds
            self.camera.centre = (held.x, held.y) if held is not None else (w / 2, h / 2)
        self.particles.update(dt)
        self.stars.draw(self.screen, self.camera.pixels())
        self.renderer.draw(self.screen, self.camera, poses.values(), own=own_id, now=now,
                           thrusting=thrusting)
        self.particles.draw(self.screen, self.camera.to_screen, self.camera.scale)
        self.renderer.radar(self.screen, self.camera, poses.values())
        mirror = client.mirror
        self.hud.update(HudNumbers(
            tick=mirror.tick, tick_rate=mirror.tick_rate, time_scale=mirror.time_scale,
            ping_ms=None if client.rtt is None else client.rtt * 1000,
            snapshot_rate=self.link.snapshot_rate(now), in_view=len(mirror),
            score=None if own_id is None else self.score, name=self.options.name))
        self.hud.draw(self.screen, now)

    def frame_time_ms(self, cpu: bool = False) -> tuple[float, float]:
        """(median, p99) of the frames' work in milliseconds (the sleep excluded): wall-clock
        time, or with `cpu` the process's CPU time (which other processes do not inflate)."""
        times = sorted(self.frame_cpu if cpu else self.frame_times) or [0.0]
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        return statistics.median(times) * 1000, p99 * 1000
