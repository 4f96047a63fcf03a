"""A `tools.fuzz` run says how late the fuzzer itself was: each attacker's longest pause
between two of its own sends goes with a refused split session, and the report carries
the attackers' loop's slowest pass (tests/test_fuzz_smoke.py reads it from a real run)."""

from __future__ import annotations

import re
import socket
import time

from net import Error, ErrorCode, encode_message
from tools.fuzz_attacks import Attacker, Attackers


def test_a_refused_split_session_says_how_long_we_paused() -> None:
    ours, server = socket.socketpair()
    ours.setblocking(False)
    attackers = Attackers("127.0.0.1", 9, seed=1)
    attacker = Attacker("split", ours, [("send", b"ab"), ("wait", 0.01), ("send", b"cd"),
                                        ("eof", 8.0)])
    attackers.live[ours.fileno()] = attacker
    attackers.running["split"] += 1
    attackers.sel.register(ours, 1, attacker)
    try:
        attackers.advance(attacker)  # sends "ab", then waits
        time.sleep(0.3)  # a pass of the loop that came late
        attackers.advance(attacker)  # sends "cd", then waits for the server to close
        assert server.recv(16) == b"abcd"
        server.sendall(encode_message(Error(ErrorCode.PARTIAL_FRAME_TIMEOUT, "slow")))
        server.close()
        while ours.fileno() >= 0:
            attackers.receive(attacker)
        [problem] = attackers.stats.problems
        assert problem.startswith("split: a valid session split at every byte was refused")
        pause = re.search(r"our longest pause between two sends: ([0-9.]+) s", problem)
        assert pause is not None and float(pause.group(1)) >= 0.3, problem
    finally:
        ours.close()
        server.close()
        attackers.sel.close()
