"""What makes the screen feel alive and carries no game state: a parallax starfield and
particles (explosions from `boom` EVENTs, engine exhaust). Seeded, so a screenshot of the
same scene looks the same.

    stars = Starfield((1280, 720))
    stars.draw(surface, camera_px)                        # camera in screen pixels
    sparks = Particles()
    sparks.explode((x, y), size=30)                       # world units
    sparks.update(dt); sparks.draw(surface, to_screen)    # to_screen(x, y) -> (sx, sy)
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pygame

__all__ = ["Particles", "Starfield"]

ToScreen = Callable[[float, float], tuple[float, float]]

# (parallax factor, stars per 100x100 px, brightness range, radius)
_LAYERS = ((0.05, 1.6, (60, 110), 1), (0.15, 0.7, (110, 170), 1), (0.35, 0.25, (170, 255), 2))


class Starfield:
    """Three layers of stars, each wrapping around the screen and shifted by the camera times
    its parallax factor: far stars crawl, near ones slide. Nebula blobs tint the far back."""

    def __init__(self, size: tuple[int, int], seed: int = 7) -> None:
        rng = random.Random(seed)
        w, h = self.size = size
        # Nebulae: soft blobs drawn small, then scaled up smoothly (a cheap blur), once.
        small = pygame.Surface((w // 8, h // 8))
        small.fill((5, 7, 16))
        for _ in range(9):
            cx, cy = rng.uniform(0, w / 8), rng.uniform(0, h / 8)
            colour = rng.choice([(60, 30, 110), (20, 50, 110), (90, 25, 70), (20, 80, 90)])
            radius = rng.uniform(8, 26)
            blob = pygame.Surface(small.get_size(), pygame.SRCALPHA)
            for k in range(10, 0, -1):
                pygame.draw.circle(blob, (*colour, 14), (cx, cy), radius * k / 10)
            small.blit(blob, (0, 0))
        self.back = pygame.transform.smoothscale(small, size)
        self.layers: list[tuple[float, int, list[tuple[int, int, tuple[int, int, int]]]]] = []
        for factor, density, (lo, hi), radius in _LAYERS:
            stars = []
            for _ in range(int(w * h / 10_000 * density)):
                v = rng.randint(lo, hi)
                tint = rng.choice([(v, v, v), (v, v, min(255, v + 40)), (min(255, v + 30), v, v)])
                stars.append((rng.randrange(w), rng.randrange(h), tint))
            self.layers.append((factor, radius, stars))
        self.back = _fast(self.back)

    def draw(self, surface: pygame.Surface, camera: tuple[float, float]) -> None:
        """Fill `surface` with space, shifted for a camera at `camera` (pixels, y down)."""
        surface.blit(self.back, (0, 0))
        w, h = self.size
        for factor, radius, stars in self.layers:
            ox, oy = -camera[0] * factor, -camera[1] * factor
            for x, y, tint in stars:
                sx, sy = int(x + ox) % w, int(y + oy) % h
                if radius == 1:
                    surface.fill(tint, (sx, sy, 1, 1))
                else:
                    pygame.draw.circle(surface, tint, (sx, sy), radius)


def _fast(surface: pygame.Surface) -> pygame.Surface:
    """`surface` in the display's pixel format (blits without conversion), once there is one."""
    return surface.convert() if pygame.display.get_surface() is not None else surface


class _Particle:
    __slots__ = ("colour", "life", "size", "ttl", "vx", "vy", "x", "y")

    def __init__(self, x: float, y: float, vx: float, vy: float, ttl: float, size: float,
                 colour: tuple[int, int, int]) -> None:
        self.x, self.y, self.vx, self.vy = x, y, vx, vy
        self.ttl = self.life = ttl
        self.size, self.colour = size, colour


_FIRE = ((255, 240, 180), (255, 200, 80), (255, 140, 40), (230, 70, 30), (160, 160, 170))


class Particles:
    """Short-lived sparks in world coordinates, plus the shock rings of explosions. At most
    `limit` particles live at once (the oldest go first), so 500 drones dying at once cost
    a bounded frame."""

    def __init__(self, seed: int = 11, limit: int = 3000) -> None:
        self.rng = random.Random(seed)
        self.limit = limit
        self.items: list[_Particle] = []
        self.rings: list[list[float]] = []  # [x, y, size, age, ttl]

    def explode(self, pos: tuple[float, float], size: float = 20.0) -> None:
        """A burst of sparks and a ring at `pos`, scaled by `size` (world units)."""
        rng = self.rng
        size = max(4.0, min(size, 200.0))
        for _ in range(int(12 + size * 1.5)):
            angle = rng.uniform(0, 2 * math.pi)
            speed = rng.uniform(0.2, 1.0) * (40 + size * 4)
            self.items.append(_Particle(pos[0], pos[1], math.cos(angle) * speed,
                                        math.sin(angle) * speed, rng.uniform(0.4, 1.1),
                                        rng.uniform(1.5, 3.5), rng.choice(_FIRE)))
        self.rings.append([pos[0], pos[1], size, 0.0, 0.5])
        del self.items[:-self.limit]

    def exhaust(self, pos: tuple[float, float], heading: float, speed: float = 60.0) -> None:
        """A puff behind a thrusting ship at `pos` heading `heading`."""
        rng = self.rng
        back = heading + math.pi + rng.uniform(-0.35, 0.35)
        v = speed * rng.uniform(0.6, 1.2)
        self.items.append(_Particle(pos[0], pos[1], math.cos(back) * v, math.sin(back) * v,
                                    rng.uniform(0.2, 0.45), rng.uniform(1.0, 2.2),
                                    rng.choice(_FIRE[:3])))
        del self.items[:-self.limit]

    def update(self, dt: float) -> None:
        live = []
        drag = math.exp(-2.5 * dt)
        for p in self.items:
            p.ttl -= dt
            if p.ttl > 0:
                p.x += p.vx * dt
                p.y += p.vy * dt
                p.vx *= drag
                p.vy *= drag
                live.append(p)
        self.items = live
        for ring in self.rings:
            ring[3] += dt
        self.rings = [r for r in self.rings if r[3] < r[4]]

    def draw(self, surface: pygame.Surface, to_screen: ToScreen, scale: float) -> None:
        for x, y, size, age, ttl in self.rings:
            k = age / ttl
            sx, sy = to_screen(x, y)
            radius = max(2, int(size * scale * (0.5 + 2.5 * k)))
            glow = int(255 * (1 - k))
            pygame.draw.circle(surface, (glow, int(glow * 0.7), int(glow * 0.3)), (sx, sy),
                               radius, max(1, int(4 * (1 - k))))
            if k < 0.25:
                pygame.draw.circle(surface, (255, 250, 220), (sx, sy),
                                   max(2, int(size * scale * 0.6 * (1 - 4 * k))))
        for p in self.items:
            sx, sy = to_screen(p.x, p.y)
            fade = p.ttl / p.life
            r, g, b = p.colour
            colour = (int(r * fade), int(g * fade), int(b * fade))
            pygame.draw.circle(surface, colour, (sx, sy), max(1, int(p.size * (0.4 + fade))))
