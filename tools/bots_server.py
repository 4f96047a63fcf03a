"""What the bots can learn about the server from outside while they load it: its CPU time
(`--server-pid`, from /proc) and its own tick times and time dilation (`--metrics`, the
server's `/status` JSON). Both are read over the steady part of a run only: from the first
moment every bot has connected to the last one before any bot closes."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

__all__ = ["ServerWatch", "cpu_seconds", "fetch_status"]

STATUS_EVERY = 2.0  # seconds between two reads of /status
STATUS_TIMEOUT = 2.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used, from /proc/PID/stat (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch_status(address: str) -> dict[str, Any]:
    """The server's `/status` JSON from its metrics port at `address` (HOST:PORT); OSError
    or ValueError when it does not answer with a JSON object."""
    with urllib.request.urlopen(f"http://{address}/status", timeout=STATUS_TIMEOUT) as reply:
        status = json.loads(reply.read())
    if not isinstance(status, dict):
        raise ValueError(f"/status is not a JSON object: {status!r:.80}")
    return status


class ServerWatch:
    """Samples of the server taken during the steady part of a run; `results()` sums them
    up. `sample()` is called on every worker report while every bot is connected."""

    def __init__(self, pid: int | None, metrics: str | None) -> None:
        self.pid = pid
        self.metrics = metrics
        # (server CPU seconds, bot-seconds connected, snapshots received, time): first, last
        self.cpu: list[tuple[float, float, int, float]] = []
        self.status: list[dict[str, Any]] = []
        self._next_status = 0.0

    def sample(self, client_seconds: float, snapshots: int, now: float) -> None:
        if self.pid is not None:
            try:
                point = (cpu_seconds(self.pid), client_seconds, snapshots, now)
            except (OSError, ValueError, IndexError):
                pass  # the server is gone: the window ends where it was
            else:
                self.cpu[min(len(self.cpu), 1):] = [point]  # the first, then the latest
        if self.metrics is not None and now >= self._next_status:
            self._next_status = now + STATUS_EVERY
            try:
                self.status.append(fetch_status(self.metrics))
            except (OSError, ValueError):
                pass  # a missed sample; the others still count

    def results(self) -> dict[str, float | None]:
        """Server CPU µs per connected bot per second and per snapshot a bot received (the
        fairer figure when the server dilates time), cores busy; from /status: the median
        of its tick p50s, the worst of its tick p99s (each over its last 300 ticks), and the
        lowest and mean time-dilation factor seen."""
        out: dict[str, float | None] = dict.fromkeys((
            "server_cpu_us_per_client_s", "server_cpu_us_per_snapshot", "server_cpu_cores",
            "server_tick_ms_p50", "server_tick_ms_p99", "server_dilation_min",
            "server_dilation_mean"))
        if len(self.cpu) == 2:
            (cpu0, bots0, snaps0, t0), (cpu1, bots1, snaps1, t1) = self.cpu
            cpu = cpu1 - cpu0
            if bots1 > bots0:
                out["server_cpu_us_per_client_s"] = round(cpu / (bots1 - bots0) * 1e6, 1)
            if snaps1 > snaps0:
                out["server_cpu_us_per_snapshot"] = round(cpu / (snaps1 - snaps0) * 1e6, 1)
            if t1 > t0:
                out["server_cpu_cores"] = round(cpu / (t1 - t0), 3)
        p50s = sorted(float(s["tick_p50_ms"]) for s in self.status if "tick_p50_ms" in s)
        p99s = [float(s["tick_p99_ms"]) for s in self.status if "tick_p99_ms" in s]
        dilation = [float(s["dilation"]) for s in self.status if "dilation" in s]
        if p50s:
            out["server_tick_ms_p50"] = round(p50s[len(p50s) // 2], 3)
        if p99s:
            out["server_tick_ms_p99"] = round(max(p99s), 3)
        if dilation:
            out["server_dilation_min"] = round(min(dilation), 3)
            out["server_dilation_mean"] = round(sum(dilation) / len(dilation), 3)
        return out
