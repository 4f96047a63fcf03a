"""The heads-up display: the server's numbers (tick, simulation time, time dilation, ping,
snapshot rate, entities in view, own score) top left; the scripts the world quarantined
top right; kills as a fading feed; a banner for the connection's state.

    hud = Hud(font, small)
    hud.update(HudNumbers(tick=mirror.tick, ...))    # once per frame
    hud.quarantined(event_payload)                   # a `quarantined` EVENT
    hud.draw(surface, now)
    hud.lines                                        # the text of the numbers panel
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pygame

__all__ = ["Hud", "HudNumbers"]

PANEL = (10, 16, 30, 190)
TEXT = (205, 225, 255)
DIM = (120, 140, 170)
WARN = (255, 90, 170)
GOOD = (120, 230, 150)


@dataclasses.dataclass(frozen=True, slots=True)
class HudNumbers:
    tick: int
    tick_rate: float
    time_scale: float
    ping_ms: float | None
    snapshot_rate: float
    in_view: int
    score: int | None  # None: a spectator
    name: str = ""


def hud_lines(n: HudNumbers) -> list[str]:
    """The numbers panel, one line each (the test reads these)."""
    ping = "--" if n.ping_ms is None else f"{n.ping_ms:.0f} ms"
    return [
        f"tick {n.tick}",
        f"sim time {n.tick / n.tick_rate:.1f} s",
        f"dilation {n.time_scale:.2f}",
        f"ping {ping}",
        f"snapshots {n.snapshot_rate:.0f}/s",
        f"in view {n.in_view}",
        "spectating" if n.score is None else f"score {n.score}",
    ]


class Hud:
    """Text on top of the world (see the module)."""

    def __init__(self, font: pygame.font.Font, small: pygame.font.Font) -> None:
        self.font, self.small = font, small
        self.lines: list[str] = []
        self.numbers: HudNumbers | None = None
        self.quarantine: dict[int, str] = {}
        """Entity id -> how the overlay lists it, from `quarantined` EVENTs."""
        self.kills: list[tuple[float, str]] = []
        self.banner: tuple[str, tuple[int, int, int]] | None = None
        self.notices: list[tuple[float, str]] = []  # (until, text): passing messages
        self.help = ""

    def update(self, numbers: HudNumbers) -> None:
        self.numbers = numbers
        self.lines = hud_lines(numbers)

    def quarantined(self, payload: Mapping[str, Any]) -> None:
        eid = payload.get("id")
        if not isinstance(eid, int):
            return
        kind, behaviour, tick = payload.get("kind"), payload.get("behaviour"), payload.get("tick")
        text = f"{kind or 'entity'} #{eid}  {behaviour or '?'}  @ tick {tick}"
        self.quarantine[eid] = text[:80]  # whatever the server sent, it fits the panel

    def kill(self, now: float, payload: Mapping[str, Any]) -> None:
        killer = payload.get("killer_name") or f"#{payload.get('killer')}"
        victim = payload.get("victim_name") or f"#{payload.get('victim')}"
        self.kills.append((now, f"{killer}  >  {victim}"[:80]))
        del self.kills[:-5]

    def say(self, now: float, text: str, seconds: float = 3.0) -> None:
        """Show `text` under the top edge for `seconds` (below the ones still showing)."""
        self.notices = [n for n in self.notices if n[1] != text and n[0] > now]
        self.notices.append((now + seconds, text))
        del self.notices[:-4]

    @property
    def notice_texts(self) -> list[str]:
        """The passing messages on screen, oldest first."""
        return [text for _, text in self.notices]

    # ---- drawing ------------------------------------------------------------------------

    def draw(self, surface: pygame.Surface, now: float) -> None:
        w, h = surface.get_size()
        self._panel(surface, (12, 12), self.lines, TEXT, title="LOOM ARENA")
        if self.quarantine:
            rows = list(self.quarantine.values())[-8:]
            width = max(self.small.size(r)[0] for r in rows) + 24
            self._panel(surface, (w - width - 12, 12), rows, WARN, title="QUARANTINED SCRIPTS",
                        font=self.small, min_width=width)
        y = h - 175  # above the radar
        for at, text in reversed(self.kills):
            age = now - at
            if age > 6:
                continue
            fade = max(0.25, 1 - age / 6)
            label = self.small.render(text, True, tuple(int(c * fade) for c in TEXT))
            surface.blit(label, (w - label.get_width() - 16, y))
            y -= label.get_height() + 2
        if self.banner is not None:
            self._centred(surface, self.banner[0], h // 2 - 80, self.banner[1], self.font)
        self.notices = [n for n in self.notices if n[0] > now]
        for i, (_, text) in enumerate(self.notices):
            self._centred(surface, text, 64 + 40 * i, GOOD, self.font)
        if self.help:
            label = self.small.render(self.help, True, DIM)
            surface.blit(label, (16, h - label.get_height() - 10))

    def _panel(self, surface: pygame.Surface, at: tuple[int, int], rows: list[str],
               colour: tuple[int, int, int], *, title: str, font: pygame.font.Font | None = None,
               min_width: int = 0) -> None:
        font = font or self.font
        line_h = font.get_linesize()
        width = max([min_width, self.small.size(title)[0] + 24,
                     *(font.size(r)[0] + 24 for r in rows)])
        height = 34 + line_h * len(rows)
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill(PANEL)
        pygame.draw.rect(panel, (*colour, 120), panel.get_rect(), 1)
        surface.blit(panel, at)
        surface.blit(self.small.render(title, True, colour), (at[0] + 12, at[1] + 8))
        for i, row in enumerate(rows):
            surface.blit(font.render(row, True, TEXT), (at[0] + 12, at[1] + 28 + i * line_h))

    def _centred(self, surface: pygame.Surface, text: str, y: int,
                 colour: tuple[int, int, int], font: pygame.font.Font) -> None:
        label = font.render(text, True, colour)
        x = (surface.get_width() - label.get_width()) // 2
        box = pygame.Surface((label.get_width() + 28, label.get_height() + 14), pygame.SRCALPHA)
        box.fill((0, 0, 0, 170))
        surface.blit(box, (x - 14, y - 7))
        surface.blit(label, (x, y))
