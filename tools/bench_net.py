"""Network benchmark: INPUT messages per second through pump → channel → consumer tasklet,
against an asyncio.Protocol server (and uvloop when installed) doing the same work with the
same Decoder and parser into a consumer coroutine, with the load in another process.

    python -m tools.bench_net [--quick] [--clients 1,100,1000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from net import Decoder, Hello, Input, Limits, Welcome, encode_message, parse_from_client
from net.errors import ProtocolError

# The anchor's message (~40 B of msgpack): the standard movement payload in an INPUT.
FRAME = encode_message(Input(12345, 678, {"thrust": 1.0, "turn": -0.5, "fire": False}))
BATCH = FRAME * 64  # what one load socket sends per write, as in net_anchor.py
# Every protective limit stays on except the message rate: the load is a flood by design.
LIMITS = Limits(message_rate=1e9, message_burst=1_000_000_000, max_clients=4000)
WARMUP, MEASURE, STOP = 0, 1, 2


def _welcome(cid: int) -> bytes:
    return encode_message(Welcome(cid, f"bench-{cid}", 30.0, 20.0, 0.0))


def _usage() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


Counters = Callable[[], tuple[int, int, int, int | None, int | None]]


def _sample(phase: Any, out_q: Any, counters: Counters) -> threading.Thread:
    """Start a thread that reads `counters()` -> (messages, bytes in, recv calls, syscalls,
    kernel switches; None where unknown) when the measured window opens and closes, and
    reports the difference. A thread, because under this load one iteration of a server's
    loop can take longer than a second (asyncio reads up to 256 KiB per socket at once)."""

    def watch() -> None:
        while phase.value == WARMUP:
            time.sleep(0.002)
        c0, u0, t0 = counters(), _usage(), time.perf_counter()
        while phase.value != STOP:
            time.sleep(0.002)
        c1, u1, t1 = counters(), _usage(), time.perf_counter()
        n = max(c1[0] - c0[0], 1)

        def per_msg(i: int, digits: int = 4) -> float | None:
            a, b = c0[i], c1[i]
            return None if a is None or b is None else round((b - a) / n, digits)

        out_q.put({
            "msgs_per_s": round((c1[0] - c0[0]) / (t1 - t0)),
            "cpu_us_per_msg": round((u1 - u0) / n * 1e6, 3),
            "bytes_per_msg": per_msg(1, 1),
            "recv_calls_per_msg": per_msg(2),
            "syscalls_per_msg": per_msg(3),
            "switches_per_msg": per_msg(4),
        })

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# ---- Loom: pump → channel → consumer tasklet ------------------------------------------------

def _loom_server(port_q: Any, phase: Any, out_q: Any) -> None:
    import logging

    import sim
    from net import Pump
    from sim._kernel import scheduler as _kernel

    logging.disable(logging.WARNING)  # a refused client would be a bench bug, not news
    pump = Pump("127.0.0.1", 0, limits=LIMITS, inbox_capacity=1024)
    count = [0]

    def consume() -> None:
        for conn, message in pump.inbox:
            if type(message) is Input:
                count[0] += 1
            elif type(message) is Hello:
                conn.send(Welcome(conn.id, f"bench-{conn.id}", 30.0, 20.0, 0.0))

    sim.spawn(consume, name="consumer")
    # The sampler thread cannot call sim.statistics() (a scheduler per thread): it reads the
    # main thread's switch counter directly.
    sched = _kernel.get_scheduler()

    def counters() -> tuple[int, int, int, int | None, int | None]:
        st = pump.statistics()
        return (count[0], st.bytes_in, st.recv_calls,
                st.recv_calls + st.send_calls + st.select_calls + st.ctl_calls, sched.switches)

    sampler = _sample(phase, out_q, counters)
    port_q.put(pump.address[1])
    while phase.value != STOP:
        pump.poll(0.01)
        sim.run(until_idle=True)
        pump.flush()
    sampler.join()
    pump.close()


# ---- the peer: asyncio.Protocol → asyncio.Queue → consumer coroutine --------------------------

def _asyncio_server(kind: str, port_q: Any, phase: Any, out_q: Any) -> None:
    import asyncio

    if kind == "uvloop":
        import uvloop

        uvloop.install()
    counters = {"count": 0, "recv": 0, "bytes": 0, "select": 0}
    # Bounded memory, as the pump has: above `high` queued messages every transport stops
    # reading (pausing only the one that crossed it lets every other ready socket still
    # deliver up to 256 KiB in the same loop iteration); below `low` they all resume.
    transports: set[Any] = set()
    paused = [False]
    high, low = 8192, 1024

    async def main() -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
        selector = getattr(loop, "_selector", None)
        if selector is not None:  # count epoll_wait calls of the pure-Python loop
            select = selector.select

            def counted(timeout: float | None = None) -> Any:
                counters["select"] += 1
                return select(timeout)

            selector.select = counted

        class Peer(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport
                transports.add(transport)
                self.decoder = Decoder(LIMITS.max_inbound_frame)
                transport.get_extra_info("socket").setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def data_received(self, data: bytes) -> None:
                counters["recv"] += 1
                counters["bytes"] += len(data)
                try:
                    for obj in self.decoder.feed(data, 0.0):
                        queue.put_nowait((self, parse_from_client(obj)))
                except ProtocolError:
                    self.transport.close()
                    return
                if queue.qsize() > high and not paused[0]:
                    paused[0] = True
                    for t in transports:
                        t.pause_reading()

            def connection_lost(self, exc: Exception | None) -> None:
                transports.discard(self.transport)

        next_id = [0]

        async def consume() -> None:
            while True:
                peer, message = await queue.get()
                if type(message) is Input:
                    counters["count"] += 1
                elif type(message) is Hello:
                    next_id[0] += 1
                    peer.transport.write(_welcome(next_id[0]))
                if paused[0] and queue.qsize() < low:
                    paused[0] = False
                    for t in transports:
                        t.resume_reading()

        def snapshot() -> tuple[int, int, int, int | None, int | None]:
            c = counters
            syscalls = None if selector is None else c["recv"] + c["select"]
            return c["count"], c["bytes"], c["recv"], syscalls, None

        sampler = _sample(phase, out_q, snapshot)
        server = await loop.create_server(Peer, "127.0.0.1", 0, backlog=4096)
        port_q.put(server.sockets[0].getsockname()[1])
        consumer = loop.create_task(consume())
        while phase.value != STOP:
            await asyncio.sleep(0.01)
        sampler.join()
        consumer.cancel()
        server.close()

    asyncio.run(main())


# ---- load, in its own process ----------------------------------------------------------------

def _load(port: int, clients: int, phase: Any, ready: Any) -> None:
    socks = []
    for i in range(clients):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(encode_message(Hello(1, f"load{i}")))
        socks.append(s)
    for s in socks:  # every WELCOME, so the server counts only INPUTs from here on
        decoder = Decoder(1 << 16)
        while not decoder.feed(s.recv(4096)):
            pass
        s.setblocking(False)
    ready.set()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE)
    while phase.value != STOP:
        for key, _ in sel.select(0.05):
            try:
                key.fileobj.send(BATCH)  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                sel.unregister(key.fileobj)
    sel.close()
    for s in socks:
        s.close()


def measure(kind: str, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    """One server of `kind` ("loom", "asyncio", "uvloop") under `clients` loading sockets."""
    ctx = mp.get_context("fork")
    port_q, out_q = ctx.Queue(), ctx.Queue()
    phase, ready = ctx.RawValue("i", WARMUP), ctx.Event()
    if kind == "loom":
        server = ctx.Process(target=_loom_server, args=(port_q, phase, out_q))
    else:
        server = ctx.Process(target=_asyncio_server, args=(kind, port_q, phase, out_q))
    server.start()
    try:
        port = port_q.get(timeout=10)
        load = ctx.Process(target=_load, args=(port, clients, phase, ready))
        load.start()
        if not ready.wait(60):
            raise RuntimeError("load generator did not connect")
        time.sleep(warmup)
        phase.value = MEASURE
        time.sleep(seconds)
        phase.value = STOP
        result: dict[str, Any] = out_q.get(timeout=30)
        load.join(10)
        server.join(10)
        return result
    finally:
        for p in (server,):
            if p.is_alive():
                p.kill()


def peers() -> list[str]:
    kinds = ["loom", "asyncio"]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        kinds.append("uvloop")
    return kinds


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rounds[0]:
        values = sorted(r[key] for r in rounds if r[key] is not None)
        out[key] = values[len(values) // 2] if values else None
    return out


def run(*, quick: bool = False, clients: Sequence[int] = (1, 100, 1000),
        seconds: float | None = None, rounds: int | None = None) -> dict[str, Any]:
    """Every peer at every client count, peers alternating within each round; medians.

    `ratio_msgs_per_s`: Loom's msgs/s over asyncio's (≥ 1 is the target). On a shared or
    small machine wall-clock rates follow the CPU the server gets; `ratio_cpu_per_msg`
    (asyncio's server CPU per message over Loom's, ≥ 1: Loom is cheaper) is the steadier
    figure."""
    seconds = seconds if seconds is not None else (1.5 if quick else 4.0)
    rounds = rounds if rounds is not None else (1 if quick else 3)
    warmup = 0.5 if quick else 1.0
    results: dict[str, Any] = {}
    for n in clients:
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in peers()}
        for _ in range(rounds):
            for kind in runs:
                runs[kind].append(measure(kind, n, seconds, warmup))
        row: dict[str, Any] = {kind: _median(r) for kind, r in runs.items()}
        loom, peer = row["loom"], row["asyncio"]
        row["ratio_msgs_per_s"] = round(loom["msgs_per_s"] / max(peer["msgs_per_s"], 1), 3)
        row["ratio_cpu_per_msg"] = round(peer["cpu_us_per_msg"] / loom["cpu_us_per_msg"], 3)
        results[str(n)] = row
    return {
        "workload": f"INPUT frames of {len(FRAME)} B, {len(BATCH) // len(FRAME)} per write, "
                    "decoded + validated (parse_from_client) + delivered one by one to one "
                    "consumer (tasklet / coroutine); load from a separate process",
        "seconds": seconds,
        "rounds": rounds,
        "python": sys.version.split()[0],
        "clients": results,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_net", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test)")
    parser.add_argument("--clients", default="1,100,1000",
                        help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=None, help="runs per peer (median)")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    print(json.dumps(run(quick=args.quick, clients=counts, seconds=args.seconds,
                         rounds=args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
