"""The renderer and the HUD on whatever the server sends: every kind drawn (and counted),
fields of the wrong type or size drawn with defaults instead of taking the client down."""

from __future__ import annotations

import math

import pygame
import pytest

from demos.client.app import App, Options, keys_to_move
from demos.client.hud import Hud
from demos.client.interp import Pose
from demos.client.render import Camera, Renderer
from demos.client.ship import Move

HOSTILE = [{}, {"radius": "big", "mode": 3, "name": 7, "hp": "x", "heading": [1]},
           {"radius": 1e15, "mode": ["chase"], "hp": -5, "in_play": "no", "quarantined": {}},
           {"radius": math.nan, "name": "n" * 256, "hp": 10**15, "alive": False}]
KINDS = ["ship", "drone", "asteroid", "shot", "runaway", "spawner", "something new"]


@pytest.fixture
def screen(offscreen: None) -> pygame.Surface:
    pygame.display.init()
    pygame.font.init()
    return pygame.display.set_mode((640, 360))


def test_every_kind_with_any_fields_is_drawn_and_counted(screen: pygame.Surface) -> None:
    camera = Camera((640, 360), 0.65, (2000.0, 2000.0), True)
    camera.centre = (1990.0, 10.0)  # at a corner: entities across the wrap are near
    renderer = Renderer(pygame.font.Font(None, 20), pygame.font.Font(None, 16))
    poses, eid = [], 0
    for kind in KINDS:
        for fields in HOSTILE:
            eid += 1
            x = (1990.0 + (eid % 7) * 40 - 120) % 2000  # some west, some east of the wrap
            poses.append(Pose(eid, kind, x, 10.0 + eid, eid * 1.0, (50.0, 0.0), fields))
    poses.append(Pose(999, "drone", 1000.0, 1000.0, 0.0, (0.0, 0.0), {}))  # far away
    renderer.draw(screen, camera, poses, own=1, now=1.0, thrusting={1})
    renderer.radar(screen, camera, poses)
    assert renderer.drawn == {p.id: p.kind for p in poses if p.id != 999}
    assert renderer.culled == 1


def test_the_hud_and_the_event_handler_take_odd_payloads(screen: pygame.Surface) -> None:
    hud = Hud(pygame.font.Font(None, 20), pygame.font.Font(None, 16))
    hud.quarantined({"id": 3, "kind": ["x"] * 100, "behaviour": None})
    hud.quarantined({"id": "3"})  # not an entity id: ignored
    hud.kill(0.0, {"killer": {}, "victim_name": "v" * 300})
    hud.say(0.0, "hello")
    hud.draw(screen, 0.5)
    assert list(hud.quarantine) == [3] and len(hud.quarantine[3]) == 80
    assert len(hud.kills[0][1]) <= 80
    app = App(Options(headless=True, size=(640, 360)))
    for payload in ({"type": "boom", "pos": ["a", 1]}, {"type": "boom", "pos": [1, 2, 3]},
                    {"type": "boom", "pos": [5.0, 5.0], "size": "huge"},
                    {"type": "boom", "pos": [math.inf, 0]}, {"type": "score", "score": "9"},
                    {"type": "kill"}, {"type": None}):
        app.handle_event(payload, 0.0)
    assert len(app.particles.rings) == 1  # only the boom with a usable position


class pressed:  # noqa: N801 - reads like pygame.key.get_pressed()
    """Held keys, indexed by key code as pygame.key.get_pressed() is."""

    def __init__(self, *keys: int) -> None:
        self.keys = set(keys)

    def __getitem__(self, key: int) -> bool:
        return key in self.keys


def test_keys_make_the_standard_movement(screen: pygame.Surface) -> None:
    assert keys_to_move(pressed()) == Move()
    assert keys_to_move(pressed(pygame.K_w, pygame.K_a, pygame.K_SPACE)) == \
        Move(thrust=1.0, turn=1.0, fire=True)  # turn +1: counter-clockwise
    assert keys_to_move(pressed(pygame.K_DOWN, pygame.K_RIGHT)) == Move(thrust=-0.5, turn=-1.0)
    assert keys_to_move(pressed(pygame.K_UP, pygame.K_s)) == Move(thrust=0.5)


def test_escape_and_the_close_button_end_the_loop(screen: pygame.Surface) -> None:
    for event in (pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0),
                  pygame.event.Event(pygame.QUIT)):
        app = App(Options(headless=True, size=(640, 360)))
        app.frame(network=False)
        assert app.running
        pygame.event.post(event)
        app.frame(network=False)
        assert not app.running
