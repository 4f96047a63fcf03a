"""Limits defaults and the deterministic token bucket."""

from __future__ import annotations

import dataclasses
import math

import pytest

from net import Limits, RateLimiter


def test_defaults_match_design_table() -> None:
    limits = Limits()
    assert (limits.max_inbound_frame, limits.max_outbound_frame) == (4096, 65536)
    assert (limits.handshake_timeout, limits.idle_timeout, limits.ping_interval) == (5, 30, 10)
    assert (limits.message_rate, limits.message_burst) == (60, 120)
    assert limits.high_water == 256 * 1024
    assert limits.max_clients == 2000
    assert limits.partial_frame_timeout == 10
    assert limits.listen_backlog >= 1024
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_clients = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_clients": 0}, {"idle_timeout": math.nan}, {"handshake_timeout": -1.0},
     {"max_inbound_frame": True}, {"ping_interval": 30.0}, {"high_water": "big"}],
)
def test_bad_limits_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        Limits(**kwargs)  # type: ignore[arg-type]


def test_burst_then_sustained_rate() -> None:
    bucket = RateLimiter(rate=60, burst=120, now=0.0)
    assert [bucket.allow(0.0) for _ in range(121)] == [True] * 120 + [False]
    assert bucket.delay(0.0) == pytest.approx(1 / 60)
    assert bucket.tokens(0.5 / 60) == pytest.approx(0.5)
    assert bucket.allow(0.5 / 60) is False
    # one second after the burst: exactly 60 more
    assert [bucket.allow(1.0) for _ in range(61)] == [True] * 60 + [False]
    assert bucket.delay(1.0) == pytest.approx(1 / 60)


def test_bucket_never_exceeds_burst_and_ignores_clock_going_back() -> None:
    bucket = RateLimiter(10, 5, now=100.0)
    assert bucket.tokens(1000.0) == 5.0
    for _ in range(5):
        assert bucket.allow(1000.0)
    assert bucket.tokens(999.0) == 0.0  # clock went backwards: no tokens minted
    assert bucket.tokens(1000.5) == 5.0
    assert bucket.delay(1000.5) == 0.0


def test_same_inputs_same_decisions() -> None:
    times = [i * 0.013 for i in range(500)]
    runs = []
    for _ in range(3):
        bucket = RateLimiter.from_limits(Limits(), now=0.0)
        runs.append([bucket.allow(t) for t in times for _ in range(2)])
    assert runs[0] == runs[1] == runs[2]
    assert runs[0].count(True) < len(runs[0])


@pytest.mark.parametrize("rate,burst", [(0, 1), (1, 0), (math.inf, 1), (1, math.nan)])
def test_bad_bucket_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, now=0.0)
