"""The server's input path, per INPUT: CPU microseconds from a client's bytes on a loopback
socket to the avatar's behaviour holding the parsed movement (recv, framing, protocol
parse, rate limit, session checks, the avatar's inbox, the behaviour's drain and
`parse_movement`), measured on a real `Server` in this process.

Each round is two ticks of the same server: one after every client sent one INPUT, one
after none did; the round's cost is the difference of their CPU times (everything an idle
tick does, behaviours and network timers included, cancels out). The median round over
the inputs of the round is the figure; several rounds of rounds give a spread.

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


class _Client:
    """A blocking loopback socket that said HELLO and read its WELCOME."""

    def __init__(self, address: tuple[str, int], name: str, server: Server) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode_message(Hello(1, name)))
        self.decoder = Decoder(1 << 20)
        self.seq = 0
        self.sock.setblocking(False)
        while not self._welcomed():
            server.tick()

    def _welcomed(self) -> bool:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return False
        return any(isinstance(parse_from_server(o), Welcome) for o in self.decoder.feed(data))

    def send_input(self) -> None:
        self.seq += 1
        self.sock.sendall(encode_message(Input(self.seq, 0, PAYLOAD)))

    def drain(self) -> None:
        """Read whatever the server sent (PINGs), so its output never backs up."""
        try:
            while self.sock.recv(1 << 16):
                pass
        except BlockingIOError:
            pass


def make_server(port: int = 0) -> Server:
    """The sandbox world without drones, no snapshots in the way (the sync side is measured
    elsewhere), the message rate limit out of the way of a flood of rounds."""
    config = parse_config(["--port", str(port), "--world-arg", "npcs=0", "--tick-rate", "1000",
                           "--snapshot-rate", "1", "--log-level", "WARNING"])
    config = dataclasses.replace(config, limits=Limits(message_rate=1e9,
                                                       message_burst=1_000_000_000))
    server = Server(config)
    server.snapshots.send = lambda *args: 0  # type: ignore[method-assign]
    return server


def measure(clients: int, rounds: int) -> dict[str, Any]:
    """Median and quartiles of the CPU microseconds per INPUT over `rounds` rounds."""
    server = make_server()
    try:
        peers = [_Client(server.address, f"bench{i}", server) for i in range(clients)]
        for _ in range(20):  # warm up: every avatar spawned, every code path taken once
            for c in peers:
                c.send_input()
            server.tick()
            server.tick()
        per_input = []
        cpu = time.process_time
        for r in range(rounds):
            for c in peers:
                c.send_input()
            t0 = cpu()
            server.tick()
            t1 = cpu()
            server.tick()
            t2 = cpu()
            per_input.append(((t1 - t0) - (t2 - t1)) / clients * 1e6)
            if r % 50 == 0:
                for c in peers:
                    c.drain()
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
            "q1": round(q[0], 2), "q3": round(q[2], 2)}


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
              "repeats": medians}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"input path: {result['us_per_input_median']} us CPU per INPUT (median of "
              f"{args.repeats} repeats {medians}; {args.clients} clients, {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
