"""Interpolation between snapshots: the timeline and the render clock, on hand-made numbers
and on a snapshot stream recorded from a real server, across the world's wrap."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from demos.client.interp import Pose, RenderClock, Timeline, lerp_angle, wrap_delta
from net import MirroredEntity, Snapshot
from tests.server.server_harness import ServerProcess

W = 2000.0


def _e(eid: int, x: float, y: float, vel: tuple[float, float] = (0.0, 0.0),
       **fields: object) -> MirroredEntity:
    return MirroredEntity(eid, "shot", (x, y), vel, fields)


def test_wrap_delta_and_lerp_angle_take_the_short_way() -> None:
    assert wrap_delta(1990.0 - 10.0, W) == -20.0
    assert wrap_delta(10.0 - 1990.0, W) == 20.0
    assert wrap_delta(-30.0, None) == -30.0
    assert lerp_angle(0.1, 2 * math.pi - 0.1, 0.5) == pytest.approx(0.0, abs=1e-12)
    assert lerp_angle(3.0, 3.2, 0.5) == pytest.approx(3.1)


def test_timeline_interpolates_across_the_wrap_and_follows_entries_and_exits() -> None:
    tl = Timeline((W, W), True, tick_rate=30)
    tl.push(30, [_e(1, 1990.0, 500.0, heading=0.0), _e(2, 100.0, 100.0)])
    tl.push(33, [_e(1, 10.0, 1999.0, heading=0.2), _e(3, 50.0, 50.0)])
    mid = tl.sample(31.5 / 30)
    assert mid[1].x == pytest.approx(0.0, abs=1e-9)  # 1990 -> 10 goes east through 0
    assert mid[1].y == pytest.approx(249.5)  # 500 -> 1999 goes south through 0 (501 units)
    assert mid[1].heading == pytest.approx(0.1)
    assert set(mid) == {1, 3}  # 2 left; 3 entered and shows where it entered
    assert (mid[3].x, mid[3].y) == (50.0, 50.0)
    # Before the first and after the last: the first, then extrapolation for at most 0.25 s.
    assert tl.sample(0.0)[1].x == 1990.0
    assert not tl.push(32, [])  # older than the newest: ignored


def test_timeline_extrapolates_past_the_newest_for_a_bounded_time() -> None:
    tl = Timeline((W, W), True, tick_rate=30, extrapolate=0.25)
    tl.push(30, [_e(1, 1990.0, 0.0, vel=(100.0, 0.0))])
    assert tl.sample(1.1)[1].x == pytest.approx(0.0, abs=1e-9)  # 0.1 s on, wrapped
    assert tl.sample(5.0)[1].x == pytest.approx(15.0)  # held after 0.25 s


def test_render_clock_never_goes_back_and_keeps_the_delay() -> None:
    clock = RenderClock(delay=0.1)
    assert clock.advance(0.0) is None
    out = []
    now = 0.0
    for n in range(200):  # 20 snapshots/s, arriving 0-30 ms late, at a 60 fps frame loop
        sim = n / 20
        arrival = sim + (0.03 if n % 3 == 0 else 0.0) + (0.017 if n % 7 == 0 else 0.0)
        while now < arrival:
            out.append(clock.advance(now))
            now += 1 / 60
        clock.observe(arrival, sim, 1.0)
    times = [t for t in out if t is not None]
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(steps) > 0
    # At steady state the render time runs 0.1 s behind the freshest arrivals.
    assert times[-1] == pytest.approx(now - 1 / 60 - 0.1, abs=0.02)


Stream = list[tuple[float, int, float, list[MirroredEntity]]]


def crosses_the_wrap(stream: Stream) -> bool:
    """Whether a shot went from the east edge to the west one between two snapshots."""
    last: dict[int, float] = {}
    for _, _, _, entities in stream:
        for e in entities:
            if e.kind == "shot":
                if last.get(e.id, 0.0) > 1500 and e.pos[0] < 500:
                    return True
                last[e.id] = e.pos[0]
    return False


def record_stream(server: ServerProcess, limit: float = 20.0) -> Stream:
    """(arrival, tick, time_scale, entities) of each snapshot a real client applied, until
    a shot crossed the wrap and a second more (at most `limit` seconds)."""
    stream: Stream = []
    with server.client("recorder") as client:
        deadline = time.monotonic() + limit
        stop = deadline
        while time.monotonic() < stop:
            for m in client.poll(0.01):
                if isinstance(m, Snapshot) and client.mirror.num == m.num:
                    stream.append((time.monotonic(), client.mirror.tick,
                                   client.mirror.time_scale, list(client.entities.values())))
            if stop == deadline and len(stream) > 40 and crosses_the_wrap(stream):
                stop = time.monotonic() + 1.0
    return stream


def test_a_recorded_stream_plays_back_monotonic_and_without_jitter_across_the_wrap(
        kinds_server: ServerProcess) -> None:
    """Two shots fly east at 600 units/s through x = 0 (the wrap). Played back at 60 fps as
    the client plays it: the render time moves forward every frame, by the wall time times
    the server's time scale give or take the clock's 10% slew; and each shot moves forward
    every frame (never back, never a jump round the world) by exactly its speed times the
    render time's step (within 1/16 unit: the snapshots' precision), so what is drawn has
    no jitter of its own, whatever the server's time dilation."""
    stream = record_stream(kinds_server)
    assert crosses_the_wrap(stream), "no shot crossed the wrap in 20 s"
    tl = Timeline((W, W), True, tick_rate=30)
    clock = RenderClock(delay=2 / 20)
    shots = {e.id for e in stream[0][3] if e.kind == "shot"}
    assert len(shots) == 2
    now, i = stream[0][0], 0
    runs: list[list[tuple[float, Pose]]] = []  # each shot's passes through the view
    current: dict[int, list[tuple[float, Pose]]] = {}
    previous: tuple[float, float] | None = None  # (render time, scale) of the last frame
    while now <= stream[-1][0]:
        while i < len(stream) and stream[i][0] <= now:
            arrival, tick, scale, entities = stream[i]
            tl.push(tick, entities)
            clock.observe(arrival, tick / 30, scale)
            i += 1
        t = clock.advance(now)
        assert t is not None
        if previous is not None:
            rate = (t - previous[0]) / (previous[1] / 60)
            assert 0.89 <= rate <= 1.11, f"render time ran at {rate:.2f} of the server's"
        previous = (t, clock.scale)
        poses = tl.sample(t)
        for eid in shots:
            if eid in poses:
                if eid not in current:
                    runs.append(current.setdefault(eid, []))
                current[eid].append((t, poses[eid]))
            else:
                current.pop(eid, None)
        now += 1 / 60
    crossed = 0
    assert sum(len(r) for r in runs) > 60
    for run in runs:
        for (ta, a), (tb, b) in zip(run, run[1:], strict=False):
            step = wrap_delta(b.x - a.x, W)
            assert step > 0, f"shot {a.id} went back by {step} at {tb}"
            assert step == pytest.approx(600 * (tb - ta), abs=1 / 16), (a, b)
            assert b.y == a.y
            crossed += a.x > b.x
    assert crossed >= 1, "no shot crossed the wrap in view"


def test_a_pose_is_plain_data() -> None:
    p = Pose(1, "ship", 1.0, 2.0, 0.5, (0.0, 0.0), {})
    assert dataclasses.replace(p, x=3.0).x == 3.0
