"""Fixtures for the demo client's tests: a real server (`python -m server` on port 0) running
the kinds world, and SDL set up to render offscreen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.server_harness import ServerProcess

KINDS_WORLD = "tests.demos.kinds_world"


@pytest.fixture
def kinds_server() -> Iterator[ServerProcess]:
    """The kinds world (every arena kind around the joining ship; see kinds_world.py)."""
    with ServerProcess("--world", KINDS_WORLD) as server:
        yield server


@pytest.fixture
def offscreen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """SDL's dummy video driver for an in-process App; pygame is shut down afterwards."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    import pygame

    yield
    pygame.quit()
