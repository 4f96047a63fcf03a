"""A running server's numbers for Prometheus (``/metrics``) and for people (``/status``, JSON).

The tick loop owns the numbers: each tick it calls :meth:`Metrics.update`, which times the
tick into a histogram and, once a second or when a scrape is waiting, gathers a frozen
:class:`Sample` from the world, the kernel and the pump on the main tasklet.  The HTTP thread
only ever reads the latest ``Sample``; it never touches the world, whose state belongs to the
main thread.

    metrics = Metrics()
    metrics.serve("127.0.0.1", 0)          # prints nothing; metrics.address is (host, port)
    while running:
        ...one tick...
        metrics.update(world, pump, tick_seconds=elapsed)
    metrics.close()
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import sim

__all__ = ["TICK_BUCKETS", "Metrics", "Sample", "collect"]

log = logging.getLogger("loom.server.metrics")

#: Tick time buckets (seconds): around a 30 Hz tick's 33 ms period and its 80% budget.
TICK_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.0267, 0.0333, 0.05, 0.1, 0.25, 0.5, 1.0)
#: How often (wall seconds) the tick loop gathers a Sample when no scrape is waiting.
DEFAULT_INTERVAL = 1.0
#: The shortest time (wall seconds) between two Samples, however often scrapes ask: a
#: scraper in a loop must not make the tick loop gather at every tick.
MIN_INTERVAL = 0.1
#: How long a scrape waits for the tick loop to gather a fresh Sample before it serves the
#: last one (a stalled loop must not stall the scraper).
FRESH_TIMEOUT = 1.0


class PumpLike(Protocol):
    """What metrics read of a ``net.Pump``: its ``statistics()``."""

    def statistics(self) -> Any: ...


@dataclass(frozen=True)
class Sample:
    """The server at one tick, as the tick loop saw it.  Counters are totals since start.

    ``drops`` counts what was thrown away, by reason: ``message`` (a message posted to an
    entity whose inbox was full or which was gone), ``snapshot_coalesced`` (a slow reader's
    unsent snapshot replaced by a newer one), and whatever the server adds (``refused``:
    INPUTs and CALLs answered with an ERROR).
    ``disconnects`` counts ended connections by reason: the error code the server closed it
    with (``RATE_LIMITED``, ``BAD_MESSAGE`` …), or how it ended otherwise (``bye``, ``eof``,
    ``reset``, ``shutdown`` …).
    """

    uptime_s: float
    tick: int
    sim_time: float
    dilation: float
    entities: int
    by_kind: Mapping[str, int]
    behaviours: int
    tasklets: int
    clients: int
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    drops: Mapping[str, int] = field(default_factory=dict)
    disconnects: Mapping[str, int] = field(default_factory=dict)
    reads_paused: int = 0
    quarantined: int = 0
    quarantines: int = 0
    restarts: int = 0
    give_ups: int = 0
    switches: int = 0
    preemptions: int = 0
    tick_p50_ms: float = 0.0
    tick_p99_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"by_kind": dict(self.by_kind),
                                           "drops": dict(self.drops),
                                           "disconnects": dict(self.disconnects)}


def collect(world: sim.World, pump: PumpLike | None = None, *, uptime_s: float = 0.0,
            clients: int | None = None, drops: Mapping[str, int] | None = None) -> Sample:
    """Gather a Sample from ``world``, this thread's kernel and ``pump`` (call it from the
    thread that steps the world).  ``clients`` defaults to the pump's connections; ``drops``
    adds the server's own drop counts to those the world and the pump keep."""
    ws = world.statistics(top=0)
    ks = sim.statistics(top=0)
    ps = pump.statistics() if pump is not None else None
    all_drops = {"message": ws.messages_dropped,
                 "snapshot_coalesced": ps.snapshots_coalesced if ps else 0}
    for reason, n in (drops or {}).items():
        all_drops[reason] = all_drops.get(reason, 0) + n
    disconnects = {**ps.rejected, **ps.dropped} if ps else {}
    return Sample(
        uptime_s=uptime_s, tick=ws.tick, sim_time=ws.sim_time, dilation=ws.dilation,
        entities=ws.entities, by_kind=dict(ws.by_kind), behaviours=ws.tasklets,
        tasklets=ks.tasklets,
        clients=clients if clients is not None else (ps.connections if ps else 0),
        bytes_in=ps.bytes_in if ps else 0, bytes_out=ps.bytes_out if ps else 0,
        frames_in=ps.frames_in if ps else 0, frames_out=ps.frames_out if ps else 0,
        drops=all_drops, disconnects=disconnects, reads_paused=ps.reads_paused if ps else 0,
        quarantined=len(ws.quarantined), quarantines=world.quarantines,
        restarts=ws.restarts, give_ups=ws.give_ups, switches=ks.switches,
        preemptions=ks.preemptions, tick_p50_ms=ws.wall_p50_ns / 1e6,
        tick_p99_ms=ws.wall_p99_ns / 1e6)


class _SampleCollector(Collector):
    """Turns the latest Sample into metric families (runs in the HTTP thread: reads only the
    Sample, an immutable object the tick loop swapped in)."""

    def __init__(self, latest: Callable[[], Sample | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        s = self._latest()
        if s is None:
            return
        gauges = [
            ("loom_uptime_seconds", "Wall seconds since the server started.", s.uptime_s),
            ("loom_tick", "Ticks stepped so far.", s.tick),
            ("loom_sim_time_seconds", "Simulation seconds (tick / tick rate).", s.sim_time),
            ("loom_dilation", "Time dilation: 1 normal, down to the floor (0.1).", s.dilation),
            ("loom_behaviours", "Live behaviour tasklets of the world's entities.",
             s.behaviours),
            ("loom_tasklets", "Live tasklets of the server's scheduler (behaviours, "
             "connections, …).", s.tasklets),
            ("loom_clients", "Connected clients.", s.clients),
            ("loom_quarantined", "Behaviours quarantined now.", s.quarantined),
        ]
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=value)
        kinds = GaugeMetricFamily("loom_entities", "Live entities by kind.", labels=["kind"])
        for kind, n in sorted(s.by_kind.items()):
            kinds.add_metric([kind], n)
        yield kinds
        counters = [
            ("loom_bytes_in", "Bytes read from clients.", s.bytes_in),
            ("loom_bytes_out", "Bytes written to clients.", s.bytes_out),
            ("loom_frames_in", "Frames read from clients.", s.frames_in),
            ("loom_frames_out", "Frames written to clients.", s.frames_out),
            ("loom_reads_paused", "Times a client's socket went unread for backpressure.",
             s.reads_paused),
            ("loom_quarantines", "Behaviours quarantined (overrun or by an operator).",
             s.quarantines),
            ("loom_restarts", "Crashed behaviours restarted.", s.restarts),
            ("loom_give_ups", "Entities despawned after too many restarts.", s.give_ups),
            ("loom_switches", "Tasklet switches.", s.switches),
            ("loom_preemptions", "Tasklets preempted at the end of their slice.",
             s.preemptions),
        ]
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)
        for name, doc, table in (
            ("loom_drops", "Things thrown away, by reason.", s.drops),
            ("loom_disconnects", "Connections ended, by reason.", s.disconnects),
        ):
            family = CounterMetricFamily(name, doc, labels=["reason"])
            for reason, n in sorted(table.items()):
                family.add_metric([reason], n)
            yield family


class Metrics:
    """The server's metrics: a tick histogram observed every tick, a Sample gathered by the
    tick loop, and an HTTP endpoint serving both (``serve``).  One registry per instance, so
    that several servers can live in one process (tests)."""

    def __init__(self, *, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        GCCollector(registry=self.registry)  # python_gc_*: the cyclic collector's work
        self.tick_seconds = Histogram(
            "loom_tick_seconds", "Wall time of one tick's work (input, behaviours, sync).",
            buckets=TICK_BUCKETS, registry=self.registry)
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last = -float("inf")
        self._cond = threading.Condition()
        self._sample: Sample | None = None
        self._generation = 0
        self._wanted = False  # a scrape is waiting for a fresh Sample
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.registry.register(_SampleCollector(self.latest))

    # ------------------------------------------------------------------ the tick loop's side

    def update(self, world: sim.World, pump: PumpLike | None = None, *,
               tick_seconds: float | None = None, clients: Callable[[], int] | None = None,
               drops: Callable[[], Mapping[str, int]] | None = None) -> bool:
        """Called by the tick loop once per tick, on the main tasklet: observe the tick's wall
        time, and gather a Sample if one is due (every ``interval`` s) or a scrape waits for
        one (at most every ``MIN_INTERVAL`` s).  ``clients()`` and ``drops()`` (the server's
        own counts, see ``collect``) are asked only then.  Returns whether it gathered.
        Costs a clock read when nothing is due."""
        if tick_seconds is not None:
            self.tick_seconds.observe(tick_seconds)
        now = self._clock()
        age = now - self._last
        if age < self.interval and not (self._wanted and age >= MIN_INTERVAL):
            return False
        self.publish(collect(world, pump, uptime_s=now - self._started,
                             clients=clients() if clients else None,
                             drops=drops() if drops else None))
        self._last = now
        return True

    def publish(self, sample: Sample) -> None:
        """Make ``sample`` the one scrapes see, and wake the scrapes waiting for it."""
        with self._cond:
            self._sample = sample
            self._generation += 1
            self._wanted = False
            self._cond.notify_all()

    # ------------------------------------------------------------------ the readers' side

    def latest(self) -> Sample | None:
        """The Sample last published (None before the first)."""
        return self._sample

    def fresh(self, timeout: float = FRESH_TIMEOUT) -> Sample | None:
        """Ask the tick loop for a new Sample and wait up to ``timeout`` s for it; the latest
        one if the loop does not publish in time.  For readers off the tick loop's thread."""
        with self._cond:
            generation = self._generation
            self._wanted = True
            self._cond.wait_for(lambda: self._generation != generation, timeout)
            return self._sample

    def exposition(self) -> bytes:
        """The Prometheus text exposition of the registry (the latest Sample and the tick
        histogram)."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ HTTP

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve ``/metrics`` and ``/status`` on ``host:port`` (0: any free port) from a
        daemon thread; returns the address bound."""
        if self._http is not None:
            raise RuntimeError("metrics are already served")
        handler = type("MetricsHandler", (_Handler,), {"metrics": self})
        server_class = _HTTPServer6 if ":" in host else ThreadingHTTPServer
        self._http = server_class((host, port), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="metrics http",
                                        daemon=True)
        self._thread.start()
        address = self.address
        assert address is not None
        log.info("metrics on %s:%d", *address)
        return address

    @property
    def address(self) -> tuple[str, int] | None:
        """The (host, port) served, or None."""
        if self._http is None:
            return None
        host, port = self._http.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop serving (idempotent); wakes any scrape still waiting."""
        with self._cond:
            self._cond.notify_all()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _HTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """GET ``/metrics`` (Prometheus text) and ``/status`` (JSON); anything else is 404."""

    metrics: Metrics
    server_version = "loom-metrics"
    timeout = 10  # seconds a client may take to send its request (no slow-loris threads)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self.metrics.fresh()
            self._reply(200, CONTENT_TYPE_LATEST, self.metrics.exposition())
        elif path == "/status":
            sample = self.metrics.fresh()
            body = {"ok": sample is not None,
                    **(sample.as_json() if sample is not None else {"error": "no sample yet"})}
            code = 200 if sample is not None else 503
            self._reply(code, "application/json", json.dumps(body).encode() + b"\n")
        elif path == "/":
            self._reply(200, "text/plain; charset=utf-8",
                        b"loom metrics: /metrics (Prometheus text), /status (JSON)\n")
        else:
            self._reply(404, "text/plain; charset=utf-8", b"not found: try /metrics or /status\n")

    def _reply(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        log.debug("%s %s", self.address_string(), format % args)
