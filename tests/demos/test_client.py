"""The client against a real server, headless (SDL's dummy video driver): what it draws is
what its mirror holds, its HUD shows the mirror's numbers, the screenshot is a picture, and
the command line answers as its --help says."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import pygame
import pytest

from demos.client.app import App, Options
from demos.client.interp import wrap_delta
from tests.demos.proxy import Relay
from tests.server.server_harness import ROOT, ServerProcess


def luminance_spread(path: Path) -> float:
    """The standard deviation of brightness over a 64x36 thumbnail of the image at `path`."""
    thumb = pygame.transform.smoothscale(pygame.image.load(str(path)), (64, 36))
    values = [sum(thumb.get_at((x, y))[:3]) / 3 for x in range(64) for y in range(36)]
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def run_frames(app: App, frames: int, limit: float = 20.0) -> None:
    """`frames` frames after the first snapshot, within `limit` seconds."""
    app.link.start()
    deadline = time.monotonic() + limit
    while app.frames < frames:
        app.frame()
        assert app.link.status != "failed", app.link.error
        assert time.monotonic() < deadline, f"{app.frames} frames in {limit} s"


def settle(app: App) -> None:
    """Frames without polling until the render time has passed the newest snapshot: then the
    view and the mirror describe the same snapshot (a fixed population has no one entering)."""
    assert app.timeline is not None and app.timeline.newest is not None
    newest = app.timeline.newest
    for _ in range(60):
        app.frame(network=False)
        if (app.render_time or 0) > newest:
            break
    assert app.render_time is not None and app.render_time > newest


def test_the_client_draws_every_entity_of_its_mirror_and_the_mirrors_numbers(
        kinds_server: ServerProcess, offscreen: None, tmp_path: Path) -> None:
    app = App(Options(port=kinds_server.port, name="tester", headless=True))
    try:
        run_frames(app, 90)
        settle(app)
        client = app.link.client
        mirror = client.mirror
        assert client.avatar is not None
        # Every entity of the mirror lies within the view radius (550 with hysteresis) of the
        # ship, which the screen covers at this zoom: so every one is drawn, and nothing else.
        ship = mirror.get(client.avatar)
        assert ship is not None
        for e in mirror.entities.values():
            assert math.hypot(wrap_delta(e.pos[0] - ship.pos[0], 2000),
                              wrap_delta(e.pos[1] - ship.pos[1], 2000)) <= 550
        kinds = {eid: e.kind for eid, e in mirror.entities.items()}
        assert app.renderer.drawn == kinds
        assert len(kinds) >= 8 and {"ship", "drone", "asteroid", "runaway"} <= set(kinds.values())
        assert app.renderer.culled == 0
        lines = app.hud.lines
        assert f"tick {mirror.tick}" in lines
        assert f"dilation {mirror.time_scale:.2f}" in lines
        assert f"in view {len(mirror)}" in lines
        assert f"sim time {mirror.tick / mirror.tick_rate:.1f} s" in lines
        assert "score 0" in lines
        assert any(line.startswith("ping ") and line.endswith(" ms") for line in lines)
        # The world's `quarantined` EVENT is listed in the overlay.
        assert app.hud.quarantine == {7: "runaway #7  Runaway.behaviour  @ tick " +
                                      app.hud.quarantine[7].rsplit(" ", 1)[-1]}
        shot = tmp_path / "frame.png"
        pygame.image.save(app.screen, str(shot))
        assert luminance_spread(shot) > 3.0
    finally:
        app.link.close()


def test_headless_command_saves_a_screenshot_that_is_not_blank(
        kinds_server: ServerProcess, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, "-m", "demos.client", "--port",
                           str(kinds_server.port), "--headless", "--frames", "30",
                           "--screenshot", str(shot)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("30 frames; frame time median ")
    assert f"screenshot {shot}" in done.stdout
    pygame.init()
    try:
        image = pygame.image.load(str(shot))
        assert image.get_size() == (1280, 720)
        assert luminance_spread(shot) > 3.0
        # Not only stars: the HUD panel's border and text are there, top left.
        assert max(sum(image.get_at((x, 30))[:3]) for x in range(12, 160)) > 400
    finally:
        pygame.quit()


def test_a_refused_connection_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "demos.client", "--port", str(port),
                           "--headless", "--frames", "5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"demos.client: cannot connect to 127.0.0.1:"
                                                   f"{port}: "), done.stderr


@pytest.mark.parametrize("argv, code, needle", [
    (["--help"], 0, "--spectate"),
    (["--frames", "0"], 2, "--frames must be at least 1"),
    (["--size", "10x10"], 2, "--size"),
])
def test_help_and_bad_flags(argv: list[str], code: int, needle: str) -> None:
    done = subprocess.run([sys.executable, "-m", "demos.client", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == code
    assert needle in done.stdout + done.stderr


def test_after_a_drop_the_client_resumes_its_session_and_says_so(
        kinds_server: ServerProcess, offscreen: None) -> None:
    with Relay(("127.0.0.1", kinds_server.port)) as relay:
        app = App(Options(port=relay.port, name="dropper", headless=True))
        try:
            run_frames(app, 20)
            client = app.link.client
            cid, avatar = client.client_id, client.avatar
            relay.cut()
            banners = []
            deadline = time.monotonic() + 15
            while not (app.link.ready and app.frames > 60 and app.link.resumed):
                app.frame()
                if app.hud.banner is not None:
                    banners.append(app.hud.banner[0])
                assert time.monotonic() < deadline, (app.link.status, app.link.error)
            assert relay.accepted == 2
            assert (client.client_id, client.avatar) == (cid, avatar)
            assert (app.link.resumed, app.link.fresh) == (1, 0)
            assert any(b.startswith("connection lost (") and "reconnecting with the resume "
                       "token" in b for b in banners), banners
            assert "reconnected: session resumed (same ship)" in app.hud.notice_texts
            for _ in range(30):  # and it plays on: snapshots of the same avatar
                app.frame()
            assert app.hud.banner is None
            assert avatar in app.renderer.drawn
        finally:
            app.link.close()


def test_a_spectators_free_camera_moves_its_view(kinds_server: ServerProcess,
                                                 offscreen: None) -> None:
    """A spectator starts at the world's centre, 900 units from the kinds around (1900,
    1000); its camera moved there (as WASD does) is sent as INPUT {"camera": [x, y]}, and
    the server's snapshots then bring the runaway parked there into view."""
    from tests.demos.kinds_world import SHIP_AT

    app = App(Options(port=kinds_server.port, name="watcher", spectate=True, headless=True))
    try:
        run_frames(app, 5)
        client = app.link.client
        assert client.avatar is None and app.spectating
        assert "spectating" in app.hud.lines
        runaway = 7
        assert runaway not in client.entities
        app.camera.centre = SHIP_AT
        deadline = time.monotonic() + 10
        while runaway not in app.renderer.drawn:
            app.frame()
            assert time.monotonic() < deadline, "the camera never moved the server's view"
        assert not app.camera_refused
        assert client.entities[runaway].kind == "runaway"
    finally:
        app.link.close()


def test_a_spectator_sees_the_kill_feed(offscreen: None) -> None:
    """A world with the spectator hooks (tests/server/herald_world.py: a kill-feed line every
    half second, to players and spectators) fills a spectating client's kill feed."""
    with ServerProcess("--world", "tests.server.herald_world") as server:
        app = App(Options(port=server.port, name="watcher", spectate=True, headless=True))
        try:
            run_frames(app, 5)
            assert app.spectating
            deadline = time.monotonic() + 10
            while len(app.hud.kills) < 2:
                app.frame()
                assert time.monotonic() < deadline, "no kill feed for the spectator"
            texts = [text for _, text in app.hud.kills]
            assert texts[0].startswith("herald  >  dummy ")
        finally:
            app.link.close()
