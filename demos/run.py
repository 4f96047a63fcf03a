"""`make demo`: start a server running the arena on a free port, open the client on it, and
stop the server when the window closes (Esc, the close button, Ctrl-C, or the client's
frame limit). Without a display it says how to run headless instead of opening a window.

Arguments after the options go to the client (`python -m demos.client --help`); the exit
status is the client's (1 if the server did not start, 2 without a display).

    python -m demos.run                                    # what `make demo` runs
    python -m demos.run --world-arg drones=200 -- --name alice
    python -m demos.run -- --headless --frames 300 --screenshot demo.png
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import IO

__all__ = ["has_display", "main", "start_server", "stop_server"]

HINT = """\
demos.run: no display here (no DISPLAY or WAYLAND_DISPLAY, and SDL_VIDEODRIVER unset), so no
window can open. Run the demo headless; it saves the last frame as a PNG:
    .venv/bin/python -m demos.run -- --headless --frames 300 --screenshot demo.png
or point SDL at a display (SDL_VIDEODRIVER=x11 DISPLAY=:0 make demo)."""

START_TIMEOUT = 20.0  # seconds for the server's `listening on` line (it imports the world)


def has_display(env: Mapping[str, str]) -> bool:
    """Whether SDL can open a window: a display server, or a driver chosen explicitly."""
    return any(env.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"))


def start_server(world: str, world_args: Sequence[str], log: IO[str]
                 ) -> tuple[subprocess.Popen[str], str, int]:
    """`python -m server --port 0 --world WORLD` and the (host, port) of its listening line.
    Its log goes to `log` (a file: a chatty server must never block on a full pipe).
    RuntimeError, with the log's tail, if it exits or says nothing within START_TIMEOUT."""
    cmd = [sys.executable, "-m", "server", "--port", "0", "--world", world]
    for arg in world_args:
        cmd += ["--world-arg", arg]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    out = proc.stdout
    assert out is not None
    first: list[str] = []
    # A thread reads the line, so a server that hangs before it cannot hang us.
    reader = threading.Thread(target=lambda: first.append(out.readline()), daemon=True)
    reader.start()
    try:
        reader.join(START_TIMEOUT)
    except BaseException:  # Ctrl-C: never leave it behind
        stop_server(proc)
        raise
    line = first[0] if first else ""
    if not line.startswith("listening on "):
        stop_server(proc)
        log.flush()
        log.seek(0)
        tail = "".join(log.readlines()[-5:]).rstrip()
        raise RuntimeError(f"the server did not start ({line.strip() or 'no output'})"
                           + (f":\n{tail}" if tail else ""))
    host, _, port = line.split()[-1].rpartition(":")
    return proc, host, int(port)


def stop_server(proc: subprocess.Popen[str], timeout: float = 10.0, *,
                grace: float = 0.0) -> int:
    """SIGTERM (the server says BYE to its clients and exits), SIGKILL if it hangs. With
    `grace`, first wait that long for it to exit by itself (it got the Ctrl-C too: a second
    signal in the middle of its shutdown would only disturb it)."""
    if grace and proc.poll() is None:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demos.run", description=__doc__.split("\n\n")[0],
                                epilog="Arguments after -- go to python -m demos.client.")
    p.add_argument("--world", default="demos.arena", help="world module (default %(default)s)")
    p.add_argument("--world-arg", action="append", default=[], metavar="K=V",
                   help="passed to the world's setup(), e.g. drones=200; repeatable")
    p.add_argument("client_args", nargs="*", help="arguments for the client")
    args = p.parse_args(argv)
    headless = "--headless" in args.client_args or "--help" in args.client_args
    if not headless and not has_display(os.environ):
        print(HINT, file=sys.stderr)
        return 2
    with tempfile.TemporaryFile("w+") as log:
        try:
            server, host, port = start_server(args.world, args.world_arg, log)
        except RuntimeError as exc:
            print(f"demos.run: {exc}", file=sys.stderr)
            return 1
        print(f"demos.run: server ({args.world}, pid {server.pid}) listening on {host}:{port}; "
              "close the window or press Esc to stop", flush=True)
        client = None
        interrupted = False
        try:
            client = subprocess.Popen([sys.executable, "-m", "demos.client", "--host", host,
                                       "--port", str(port), *args.client_args])
            return client.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the client and the server too
            interrupted = True
            if client is not None:
                try:
                    client.wait(5)
                except subprocess.TimeoutExpired:
                    client.kill()
            return 130
        finally:
            code = stop_server(server, grace=5.0 if interrupted else 0.0)
            print(f"demos.run: server stopped (exit {code})", flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while the server was starting: it got it too
        sys.exit(130)
