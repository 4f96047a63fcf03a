"""server.metrics: /metrics and /status scraped over real HTTP from a running tick loop, with
the world's, kernel's and pump's real numbers; the sample is gathered by the tick loop."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest
from ops_harness import Console, ServerProcess, server_fixture, wait_ticks
from prometheus_client.parser import text_string_to_metric_families

import sim
from net import PROTOCOL_VERSION, Client, Error, Hello, encode_message
from server.metrics import Metrics, collect

server = server_fixture()


def url(server: ServerProcess, path: str) -> str:
    return f"http://{server.metrics[0]}:{server.metrics[1]}{path}"


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    with urllib.request.urlopen(url(server, "/metrics"), timeout=20) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def disconnects(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]
                ) -> Counter[str]:
    """loom_disconnects_total by reason."""
    return Counter({labels[0][1]: int(v) for (name, labels), v in metrics.items()
                    if name == "loom_disconnects_total"})


def status(server: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(url(server, "/status"), timeout=20) as r:
        assert r.headers["Content-Type"] == "application/json"
        result: dict[str, Any] = json.loads(r.read())
        return result


def test_metrics_show_the_running_world(server: ServerProcess) -> None:
    m = scrape(server)
    assert m[("loom_entities", (("kind", "burner"),))] == 1
    assert m[("loom_entities", (("kind", "walker"),))] == 4
    assert m[("loom_entities", (("kind", "sleeper"),))] == 1
    assert m[("loom_behaviours", ())] == 6
    assert m[("loom_tasklets", ())] == 6  # no client: no connection tasklets
    assert m[("loom_tick", ())] > 0
    assert 0.1 <= m[("loom_dilation", ())] <= 1.0
    assert m[("loom_switches_total", ())] > 0
    # one histogram observation per whole tick, from the second tick on
    count = m[("loom_tick_seconds_count", ())]
    assert 0 < count <= m[("loom_tick", ())]
    assert m[("loom_tick_seconds_bucket", (("le", "+Inf"),))] == count
    assert m[("loom_clients", ())] == 0 and m[("loom_quarantined", ())] == 0
    # the cyclic collector's work, by generation (python -m server raises its threshold)
    assert {labels for name, labels in m if name == "python_gc_collections_total"} == {
        (("generation", str(g)),) for g in range(3)}
    # a scrape asks the tick loop for a fresh sample: the next one has moved on
    assert scrape(server)[("loom_tick", ())] > m[("loom_tick", ())]


def test_a_client_its_traffic_and_its_goodbye(server: ServerProcess) -> None:
    before = scrape(server)
    client = Client(*server.game, "metrics-test")
    try:
        client.connect()
        deadline = time.monotonic() + 30
        while len(client.snapshots) < 3 and time.monotonic() < deadline:
            client.poll(0.05)
        assert len(client.snapshots) >= 3
        seq = client.send_input({"thrust": "fast"})  # not a movement: refused with an ERROR
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                isinstance(m, Error) and m.ref == seq for m in client.poll(0.05)):
            pass
        during = scrape(server)
    finally:
        client.close("done")
    with Console(server.admin) as c:  # let the server see the BYE
        assert c.ask(f"auth {server.token}")["ok"]
        wait_ticks(c, 3)
    after = scrape(server)
    assert during[("loom_clients", ())] == 1
    refused = ("loom_drops_total", (("reason", "refused"),))
    assert during[refused] - before[refused] == 1
    assert during[("loom_entities", (("kind", "ship"),))] == 1
    assert during[("loom_tasklets", ())] > during[("loom_behaviours", ())] == 7
    assert during[("loom_frames_out_total", ())] - before[("loom_frames_out_total", ())] >= 4
    assert during[("loom_bytes_out_total", ())] > before[("loom_bytes_out_total", ())]
    assert during[("loom_frames_in_total", ())] > before[("loom_frames_in_total", ())]
    # BYE, or a reset when the client closed with snapshots unread (then its session waits
    # for a resume): one disconnect either way
    assert disconnects(after) - disconnects(before) == {"bye": 1} or \
        disconnects(after) - disconnects(before) == {"reset": 1}
    assert after[("loom_clients", ())] == 0


def test_bytes_frames_and_disconnects_by_reason(server: ServerProcess) -> None:
    before = scrape(server)
    hello = encode_message(Hello(version=PROTOCOL_VERSION, name="raw-test"))
    with socket.create_connection(server.game, timeout=20) as s:
        s.sendall(hello)
        with Console(server.admin) as c:  # let a few ticks pass before we hang up
            assert c.ask(f"auth {server.token}")["ok"]
            wait_ticks(c, 3)
    with socket.create_connection(server.game, timeout=20) as s:
        s.sendall(b"\x7f\xff\xff\xff")  # a length prefix far above the 4 KiB limit
        error = b""
        while chunk := s.recv(4096):  # the ERROR frame, then the close
            error += chunk
    with Console(server.admin) as c:
        assert c.ask(f"auth {server.token}")["ok"]
        wait_ticks(c, 3)
    after = scrape(server)
    assert after[("loom_frames_in_total", ())] - before[("loom_frames_in_total", ())] == 1
    assert after[("loom_bytes_in_total", ())] - before[("loom_bytes_in_total", ())] == \
        len(hello) + 4
    # the first connection was welcomed, then hung up without a BYE (its WELCOME unread:
    # a reset, or an EOF)
    assert disconnects(after) - disconnects(before) in ({"eof": 1, "FRAME_TOO_LARGE": 1},
                                                        {"reset": 1, "FRAME_TOO_LARGE": 1})
    assert after[("loom_clients", ())] == 0


def test_status_is_json_from_the_tick_loop(server: ServerProcess) -> None:
    first, second = status(server), status(server)
    assert first["ok"] is True
    ships = first["by_kind"].pop("ship", 0)  # sessions of earlier tests awaiting a resume
    assert first["by_kind"] == {"burner": 1, "sleeper": 1, "walker": 4}
    assert first["entities"] == 6 + ships and first["behaviours"] == 6 + ships
    assert second["tick"] > first["tick"]  # each read gets a fresh sample
    assert second["sim_time"] == pytest.approx(second["tick"] / 30)


def test_other_paths_are_404(server: ServerProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url(server, "/nope"), timeout=20)
    assert err.value.code == 404
    err.value.close()


class Idle(sim.Entity):
    def behaviour(self) -> None:
        while True:
            sim.next_tick()


def test_the_sample_is_gathered_when_due_or_wanted() -> None:
    now = [100.0]
    metrics = Metrics(interval=1.0, clock=lambda: now[0])
    with sim.World(seed=1) as world:
        world.spawn(Idle)
        world.step()
        assert metrics.latest() is None
        assert metrics.update(world, tick_seconds=0.002) is True  # the first: due at once
        assert metrics.update(world, tick_seconds=0.002) is False
        world.step()
        assert metrics.fresh(timeout=0) is not None  # a reader asked (and did not wait)
        assert metrics.update(world) is False  # not twice within MIN_INTERVAL
        now[0] += 0.125
        assert metrics.update(world) is True
        sample = metrics.latest()
        assert sample is not None and sample.tick == 2 and sample.by_kind == {"idle": 1}
        now[0] += 1.0
        assert metrics.update(world) is True  # an interval passed
        text = metrics.exposition().decode()
        assert "loom_tick_seconds_count 2.0" in text and 'loom_entities{kind="idle"} 1.0' in text


def test_collect_adds_the_servers_own_drops() -> None:
    with sim.World(seed=1) as world:
        e = world.spawn(Idle)
        for _ in range(world.inbox_capacity + 3):
            world.post(e, sim.Message("ping", 0, None))
        sample = collect(world, drops={"input_invalid": 2, "message": 1})
        assert sample.drops == {"message": 4, "snapshot_coalesced": 0, "input_invalid": 2}
        assert sample.clients == 0 and sample.entities == 1
