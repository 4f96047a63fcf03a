"""Drawing the world: a camera (world units to screen pixels, wrap-aware, y up in the world
and down on the screen) and one drawing per entity kind of the arena — ships as triangles,
drones as small craft coloured by mode, asteroids as irregular spinning rocks, shots as
streaks, the runaway in warning colours — with anything else as a labelled dot.

    camera = Camera((1280, 720), scale=0.65, bounds=(2000, 2000), wrap=True)
    camera.centre = (x, y)
    renderer = Renderer(fonts)
    renderer.draw(surface, camera, poses.values(), own=avatar_id, now=t)
    renderer.drawn          # {id: kind} of what this frame drew
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import pygame

from demos.client.interp import Pose, wrap_delta

__all__ = ["Camera", "Renderer", "number"]

OWN = (90, 230, 255)
OTHER_SHIP = (255, 170, 70)
DRONE_MODES = {"patrol": (120, 220, 140), "chase": (255, 80, 80), "flee": (250, 220, 90),
               "return": (140, 160, 255)}
DRONE = (150, 210, 170)
ROCK_FILL, ROCK_EDGE = (70, 62, 58), (150, 135, 120)
SHOT = (255, 245, 170)
WARNING = (255, 40, 160)
DEAD = (90, 90, 100)


class Camera:
    """Maps world positions to the screen around `centre` at `scale` pixels per unit."""

    def __init__(self, size: tuple[int, int], scale: float,
                 bounds: tuple[float, float] | None, wrap: bool) -> None:
        self.size = size
        self.scale = scale
        self.bounds = bounds
        self.wrap = wrap and bounds is not None
        self.centre = (bounds[0] / 2, bounds[1] / 2) if bounds else (0.0, 0.0)

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        cx, cy = self.centre
        dx, dy = x - cx, y - cy
        if self.wrap:
            assert self.bounds is not None
            dx, dy = wrap_delta(dx, self.bounds[0]), wrap_delta(dy, self.bounds[1])
        return self.size[0] / 2 + dx * self.scale, self.size[1] / 2 - dy * self.scale

    def visible(self, sx: float, sy: float, margin: float) -> bool:
        return -margin <= sx <= self.size[0] + margin and -margin <= sy <= self.size[1] + margin

    def pixels(self) -> tuple[float, float]:
        """The camera position in screen pixels (y down), for the starfield's parallax."""
        return self.centre[0] * self.scale, -self.centre[1] * self.scale


def number(value: object, default: float) -> float:
    """A replicated field as a finite number, else `default`: a field holds whatever the
    server sent, and a bad value must not take the client down."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def _rotated(points: Iterable[tuple[float, float]], sx: float, sy: float, heading: float,
             size: float) -> list[tuple[float, float]]:
    """Model points (x forward, y left) turned to `heading`, scaled, placed at (sx, sy);
    the screen's y points down, so world counter-clockwise is screen clockwise."""
    c, s = math.cos(heading), math.sin(heading)
    return [(sx + (px * c - py * s) * size, sy - (px * s + py * c) * size) for px, py in points]


_SHIP = ((1.0, 0.0), (-0.7, 0.6), (-0.4, 0.0), (-0.7, -0.6))
_FLAME = ((-0.45, 0.25), (-1.1, 0.0), (-0.45, -0.25))
_DRONE = ((0.9, 0.0), (0.0, 0.55), (-0.7, 0.35), (-0.7, -0.35), (0.0, -0.55))
_RUNAWAY = ((1.0, 0.0), (0.3, 0.9), (-0.8, 0.6), (-0.5, 0.0), (-0.8, -0.6), (0.3, -0.9))


class Renderer:
    """Draws poses; `drawn` ({id: kind}) and `culled` (off screen) describe the last frame."""

    def __init__(self, font: pygame.font.Font, small: pygame.font.Font) -> None:
        self.font, self.small = font, small
        self.drawn: dict[int, str] = {}
        self.culled = 0
        self._rocks: dict[int, list[tuple[float, float]]] = {}
        self._labels: dict[str, pygame.Surface] = {}
        self._sprites: dict[tuple[object, int], pygame.Surface] = {}

    def draw(self, surface: pygame.Surface, camera: Camera, poses: Iterable[Pose], *,
             own: int | None, now: float, thrusting: set[int] | None = None) -> None:
        self.drawn = {}
        self.culled = 0
        thrusting = thrusting or set()
        zoom = camera.scale
        # Shots under ships, ships over rocks: draw in kind order.
        for pose in sorted(poses, key=lambda p: _ORDER.get(p.kind, 5)):
            sx, sy = camera.to_screen(pose.x, pose.y)
            radius = min(number(pose.fields.get("radius"), 0.0), 2000.0) * zoom
            if not camera.visible(sx, sy, 40 + radius):
                self.culled += 1
                continue
            self.drawn[pose.id] = pose.kind
            kind = pose.kind
            if kind == "ship":
                self._ship(surface, pose, sx, sy, pose.id == own, pose.id in thrusting)
            elif kind == "drone":
                self._drone(surface, pose, sx, sy)
            elif kind == "asteroid":
                self._asteroid(surface, pose, sx, sy, max(radius, 6.0))
            elif kind == "shot":
                self._shot(surface, pose, sx, sy)
            elif kind == "runaway":
                self._runaway(surface, pose, sx, sy, now)
            elif kind == "spawner":
                self._beacon(surface, sx, sy, now)
            else:
                pygame.draw.circle(surface, (200, 200, 200), (sx, sy), 4)
                self._label(surface, kind, sx, sy + 8, (160, 160, 160))

    # ---- kinds ------------------------------------------------------------------------

    def _ship(self, surface: pygame.Surface, p: Pose, sx: float, sy: float, own: bool,
              thrust: bool) -> None:
        alive = p.fields.get("in_play", p.fields.get("alive", True)) is not False
        colour = (OWN if own else OTHER_SHIP) if alive else DEAD
        if thrust and alive:
            pygame.draw.polygon(surface, (255, 160, 60), _rotated(_FLAME, sx, sy, p.heading, 15))
        body = _rotated(_SHIP, sx, sy, p.heading, 14)
        pygame.draw.polygon(surface, tuple(c // 3 for c in colour), body)
        pygame.draw.polygon(surface, colour, body, 2)
        if own:
            pygame.draw.circle(surface, (40, 90, 110), (sx, sy), 22, 1)
        name = p.fields.get("name")
        if isinstance(name, str) and name:
            self._label(surface, name, sx, sy - 26, colour)
        hp = p.fields.get("hp")
        if isinstance(hp, int) and alive and hp < 100:
            pygame.draw.rect(surface, (60, 20, 20), (sx - 14, sy + 18, 28, 3))
            pygame.draw.rect(surface, (90, 230, 120), (sx - 14, sy + 18, 28 * max(0, hp) / 100, 3))

    def _drone(self, surface: pygame.Surface, p: Pose, sx: float, sy: float) -> None:
        # Drones are the many: each mode at each of 64 headings is drawn once, then blitted
        # (a blit is several times cheaper than polygons rotated in Python).
        mode = p.fields.get("mode")
        key = (mode if isinstance(mode, str) and mode in DRONE_MODES else None,
               round(p.heading / (2 * math.pi) * _TURNS) % _TURNS)
        sprite = self._sprites.get(key)
        if sprite is None:
            sprite = self._sprites[key] = _drone_sprite(*_DRONE_COLOURS[key[0]],
                                                        key[1] * 2 * math.pi / _TURNS)
        surface.blit(sprite, (sx - _SPRITE / 2, sy - _SPRITE / 2))

    def _asteroid(self, surface: pygame.Surface, p: Pose, sx: float, sy: float,
                  radius: float) -> None:
        shape = self._rocks.get(p.id)
        if shape is None:  # an outline of its own, the same every frame (seeded by the id)
            rng = random.Random(p.id)
            n = rng.randint(8, 12)
            shape = [(math.cos(a) * r, math.sin(a) * r) for a, r in
                     ((2 * math.pi * i / n + rng.uniform(-0.2, 0.2), rng.uniform(0.72, 1.05))
                      for i in range(n))]
            self._rocks[p.id] = shape
            if len(self._rocks) > 4096:
                self._rocks.pop(next(iter(self._rocks)))
        outline = _rotated(shape, sx, sy, p.heading, radius)
        pygame.draw.polygon(surface, ROCK_FILL, outline)
        pygame.draw.polygon(surface, ROCK_EDGE, outline, 2)
        if radius > 14:  # a crater or two
            crater = _rotated(((0.3, 0.2), (-0.35, -0.1)), sx, sy, p.heading, radius)
            for i, (cx, cy) in enumerate(crater):
                pygame.draw.circle(surface, (55, 48, 45), (cx, cy), radius * (0.18 - 0.05 * i))

    def _shot(self, surface: pygame.Surface, p: Pose, sx: float, sy: float) -> None:
        vx, vy = p.vel
        heading = math.atan2(vy, vx) if (vx or vy) else p.heading
        tail = (sx - math.cos(heading) * 14, sy + math.sin(heading) * 14)
        pygame.draw.line(surface, (160, 120, 40), tail, (sx, sy), 4)
        pygame.draw.line(surface, SHOT, tail, (sx, sy), 2)
        pygame.draw.circle(surface, (255, 255, 255), (sx, sy), 2)

    def _runaway(self, surface: pygame.Surface, p: Pose, sx: float, sy: float,
                 now: float) -> None:
        caged = bool(p.fields.get("quarantined"))
        pulse = 0.5 + 0.5 * math.sin(now * 8)
        colour = (130, 100, 120) if caged else (255, int(40 + 80 * pulse), 160)
        body = _rotated(_RUNAWAY, sx, sy, p.heading, 13)
        pygame.draw.polygon(surface, tuple(c // 3 for c in colour), body)
        pygame.draw.polygon(surface, colour, body, 2)
        if caged:
            pygame.draw.circle(surface, WARNING, (sx, sy), 24, 2)
            for a in range(4):  # four bars: a cage
                angle = a * math.pi / 2 + math.pi / 4
                c, s = math.cos(angle), math.sin(angle)
                pygame.draw.line(surface, WARNING, (sx + 17 * c, sy + 17 * s),
                                 (sx + 31 * c, sy + 31 * s), 2)
            self._label(surface, "QUARANTINED", sx, sy + 38, WARNING)
        else:
            pygame.draw.circle(surface, colour, (sx, sy), int(18 + 6 * pulse), 1)
            self._label(surface, "runaway!", sx, sy + 30, colour)

    def radar(self, surface: pygame.Surface, camera: Camera, poses: Iterable[Pose],
              reach: float = 600.0, radius: int = 64) -> None:
        """A round scope bottom right: everything within `reach` units of the camera."""
        w, h = surface.get_size()
        cx, cy = w - radius - 16, h - radius - 16
        scope = pygame.Surface((2 * radius, 2 * radius), pygame.SRCALPHA)
        pygame.draw.circle(scope, (10, 30, 40, 170), (radius, radius), radius)
        surface.blit(scope, (cx - radius, cy - radius))
        for r in (radius, radius // 2):
            pygame.draw.circle(surface, (40, 110, 120), (cx, cy), r, 1)
        k = radius / reach
        (x0, y0), bounds = camera.centre, camera.bounds if camera.wrap else None
        wx, wy = (bounds[0], bounds[1]) if bounds is not None else (None, None)
        inner = (radius - 2) ** 2
        for p in poses:
            dx, dy = wrap_delta(p.x - x0, wx) * k, -wrap_delta(p.y - y0, wy) * k
            if dx * dx + dy * dy < inner:
                colour = _RADAR.get(p.kind, (150, 150, 150))
                size = 1 if p.kind == "shot" else 2
                pygame.draw.circle(surface, colour, (cx + dx, cy + dy), size)

    def _beacon(self, surface: pygame.Surface, sx: float, sy: float, now: float) -> None:
        """The arena's caretaker (it keeps the population up): a slowly turning station."""
        for i in range(3):
            angle = now * 0.6 + i * 2 * math.pi / 3
            tip = (sx + 16 * math.cos(angle), sy + 16 * math.sin(angle))
            pygame.draw.line(surface, (70, 110, 140), (sx, sy), tip, 2)
            pygame.draw.circle(surface, (120, 190, 230), tip, 3)
        pygame.draw.circle(surface, (40, 60, 80), (sx, sy), 7)
        pygame.draw.circle(surface, (120, 190, 230), (sx, sy), 7, 1)

    def _label(self, surface: pygame.Surface, text: str, sx: float, sy: float,
               colour: tuple[int, int, int]) -> None:
        key = f"{colour}{text}"
        label = self._labels.get(key)
        if label is None:
            label = self._labels[key] = self.small.render(text, True, colour)
            if len(self._labels) > 512:
                self._labels.pop(next(iter(self._labels)))
        surface.blit(label, (sx - label.get_width() / 2, sy - label.get_height() / 2))


_DRONE_COLOURS: dict[object, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    mode: (c, (c[0] // 4, c[1] // 4, c[2] // 4))
    for mode, c in [*DRONE_MODES.items(), (None, DRONE)]}
_TURNS, _SPRITE = 64, 26  # headings a drone sprite is drawn at; its size in pixels


def _drone_sprite(edge: tuple[int, int, int], fill: tuple[int, int, int],
                  heading: float) -> pygame.Surface:
    sprite = pygame.Surface((_SPRITE, _SPRITE))
    sprite.set_colorkey((0, 0, 0))
    c = _SPRITE / 2
    body = _rotated(_DRONE, c, c, heading, 11)
    pygame.draw.polygon(sprite, fill, body)
    pygame.draw.polygon(sprite, edge, body, 1)
    pygame.draw.circle(sprite, edge, (c + 4 * math.cos(heading), c - 4 * math.sin(heading)), 2)
    return sprite.convert() if pygame.display.get_surface() is not None else sprite


_RADAR = {"ship": OTHER_SHIP, "drone": (120, 220, 140), "asteroid": ROCK_EDGE, "shot": SHOT,
          "runaway": WARNING}
_ORDER = {"asteroid": 0, "shot": 1, "drone": 2, "runaway": 3, "ship": 4}
