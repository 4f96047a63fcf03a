"""The server's input path, per INPUT: CPU microseconds from a client's bytes on a loopback
socket to the avatar's behaviour holding the parsed movement (recv, framing, protocol
parse, rate limit, session checks, the avatar's inbox, the behaviour's drain and
`parse_movement`), measured on a real `Server` in this process.

Each round is four ticks of the same server: two after every client sent one INPUT (the
second one takes whatever of the work spilled over), then two after none did; the round's
cost is the difference of the two pairs' CPU times (everything an idle tick does,
behaviours and network timers included, cancels out), over the round's INPUTs. The
median round is the figure; `--repeats` fresh servers give a spread.

    python -m tools.bench_input [--clients 100] [--rounds 400] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from net import Decoder, Hello, Input, Limits, Welcome, encode_message, parse_from_server
from server import Server, parse_config

PAYLOAD = {"thrust": 1.0, "turn": -0.5, "fire": False}  # the standard movement payload


class LoopbackClient:
    """A client on a loopback socket to a `Server` ticked in this process: it says HELLO and
    ticks the server until its WELCOME came; then its socket does not block."""

    def __init__(self, server: Server, name: str) -> None:
        self.sock = socket.create_connection(server.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode_message(Hello(1, name)))
        self.sock.setblocking(False)
        self.decoder = Decoder(1 << 20)
        self.seq = 0
        self.welcome: Welcome | None = None
        for _ in range(1000):
            server.tick()
            if any(isinstance(m, Welcome) for m in self.messages()):
                break
        else:
            raise RuntimeError(f"{name}: no WELCOME in 1000 ticks")

    def frame(self, payload: Any = PAYLOAD) -> bytes:
        """The next INPUT (its seq one more than the last) as bytes, not sent."""
        self.seq += 1
        return encode_message(Input(self.seq, 0, payload))

    def send_input(self, payload: Any = PAYLOAD) -> int:
        """Send the next INPUT; returns its seq."""
        self.sock.sendall(self.frame(payload))
        return self.seq

    def messages(self) -> list[Any]:
        """Every message the server sent since the last call (none if nothing came)."""
        out = []
        try:
            while data := self.sock.recv(1 << 16):
                out += [parse_from_server(o) for o in self.decoder.feed(data)]
        except BlockingIOError:
            pass
        for m in out:
            if isinstance(m, Welcome):
                self.welcome = m
        return out


def make_server(port: int = 0, inbox_capacity: int = 64) -> Server:
    """The sandbox world without drones, no snapshots in the way (the sync side is measured
    elsewhere), the message rate limit out of the way of a flood of rounds."""
    config = parse_config(["--port", str(port), "--world-arg", "npcs=0", "--tick-rate", "1000",
                           "--snapshot-rate", "1", "--log-level", "WARNING",
                           "--inbox-capacity", str(inbox_capacity)])
    config = dataclasses.replace(config, limits=Limits(message_rate=1e9,
                                                       message_burst=1_000_000_000))
    server = Server(config)
    server.snapshots.send = lambda *args: 0  # type: ignore[method-assign]
    return server


def measure(clients: int, rounds: int) -> dict[str, Any]:
    """Median and quartiles of the CPU microseconds per INPUT over `rounds` rounds."""
    server = make_server()
    try:
        peers = [LoopbackClient(server, f"bench{i}") for i in range(clients)]
        for _ in range(20):  # warm up: every avatar spawned, every code path taken once
            for c in peers:
                c.send_input()
            server.tick()
            server.tick()
        per_input, busy, idle = [], [], []
        cpu = time.process_time
        for r in range(rounds):
            for c in peers:
                c.send_input()
            t0 = cpu()
            server.tick()  # reads, decodes, checks, the avatars' inboxes, the behaviours
            server.tick()  # whatever of it spilled into the next tick
            t1 = cpu()
            server.tick()  # quiet: what two ticks cost anyway
            server.tick()
            t2 = cpu()
            per_input.append(((t1 - t0) - (t2 - t1)) / clients * 1e6)
            busy.append((t1 - t0) * 1e6)
            idle.append((t2 - t1) * 1e6)
            if r % 50 == 0:  # read what the server sent (PINGs): its output never backs up
                for c in peers:
                    c.messages()
        applied = sum(s.input_seq for s in server.sessions)
        expected = sum(c.seq for c in peers)
        if applied != expected:
            raise RuntimeError(f"{applied} INPUTs applied, {expected} sent")
        for c in peers:
            c.sock.close()
    finally:
        server.close()
    q = statistics.quantiles(per_input, n=4)
    return {"clients": clients, "rounds": rounds, "us_per_input": round(q[1], 2),
            "q1": round(q[0], 2), "q3": round(q[2], 2),
            "input_tick_us": round(statistics.median(busy), 1),
            "idle_tick_us": round(statistics.median(idle), 1)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_input", description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runs = [measure(args.clients, args.rounds) for _ in range(args.repeats)]
    medians = [r["us_per_input"] for r in runs]
    result = {"clients": args.clients, "rounds": args.rounds,
              "us_per_input_median": round(statistics.median(medians), 2),
              "repeats": medians,
              "us_per_input_best": min(medians),
              "input_tick_us": statistics.median(r["input_tick_us"] for r in runs),
              "idle_tick_us": statistics.median(r["idle_tick_us"] for r in runs)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"input path: {result['us_per_input_median']} us CPU per INPUT, best "
              f"{result['us_per_input_best']} (median of "
              f"{args.repeats} repeats {medians}; {args.clients} clients, {args.rounds} rounds; "
              f"median of two ticks: {result['input_tick_us']} us with inputs, "
              f"{result['idle_tick_us']} us without)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
