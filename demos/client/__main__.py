"""`python -m demos.client`: open the demo client on a running server (see --help).

Exit status: 0 when the window is closed (Esc) or the frame count is reached, 1 when the
server refuses the connection or sends no snapshot, 2 for a bad flag.

    python -m demos.client --host 127.0.0.1 --port 7777 --name alice
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "parser"]

DESCRIPTION = """\
The Loom demo client: fly a ship in a Loom world (start one with
`python -m server --world demos.arena --port 7777`, or run `make demo`).

Keys: W / up thrust, S / down brake (reverse thrust), A D / left right turn, space fire,
Esc quit. With --spectate there is no ship: WASD / arrows move a free camera (the server
must accept the {"camera": [x, y]} INPUT of docs/protocol.md, else the view stays where the
server puts it).

What is on screen: your ship centred and drawn where it will be (predicted, corrected by
each snapshot's input_ack), everything else as it was two snapshots ago, interpolated. Top
left: the server's tick, simulation time, time dilation (1.00 = real time), ping, snapshots
received per second, entities in view, your score. Top right: scripts the world quarantined.
After a dropped connection the client reconnects with its resume token (same ship) and says
so on screen.

Headless (no window; SDL's dummy video driver): --headless --frames N --screenshot FILE runs
N frames after the first snapshot, saves the last as a PNG and prints the frame time.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m demos.client", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="server address (default %(default)s)")
    p.add_argument("--port", type=int, default=7777, help="server port (default %(default)s)")
    p.add_argument("--name", default="pilot", help="your player name (default %(default)s)")
    p.add_argument("--spectate", action="store_true",
                   help="watch without flying: a free camera (WASD / arrows)")
    p.add_argument("--headless", action="store_true",
                   help="render offscreen (SDL_VIDEODRIVER=dummy): for screenshots and tests")
    p.add_argument("--frames", type=int, metavar="N",
                   help="quit after N frames counted from the first snapshot")
    p.add_argument("--screenshot", metavar="FILE", help="save the last frame as PNG at exit")
    p.add_argument("--autopilot", action="store_true",
                   help="the ship flies itself (hunts the nearest drone) while no key is held")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="window size in pixels (default %(default)s)")
    p.add_argument("--zoom", type=float, default=0.65,
                   help="pixels per world unit (default %(default)s)")
    p.add_argument("--fps", type=int, default=60, help="frame cap (default %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        if w < 320 or h < 240:
            raise ValueError
    except ValueError:
        parser().error(f"--size: expected WxH of at least 320x240, got {args.size!r}")
    if args.frames is not None and args.frames < 1:
        parser().error(f"--frames must be at least 1, got {args.frames}")
    if not args.zoom > 0 or args.fps < 1:
        parser().error("--zoom must be > 0 and --fps at least 1")
    if args.headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from demos.client.app import App, Options  # pygame is imported after SDL's setup

    app = App(Options(host=args.host, port=args.port, name=args.name, spectate=args.spectate,
                      headless=args.headless, frames=args.frames, screenshot=args.screenshot,
                      size=(w, h), zoom=args.zoom, fps=args.fps,
                      autopilot=args.autopilot))
    try:
        code = app.run()
    except KeyboardInterrupt:  # Ctrl-C: the window closes as with Esc (run() said BYE)
        return 130
    if args.headless and code == 0:
        median, p99 = app.frame_time_ms()
        cpu, cpu99 = app.frame_time_ms(cpu=True)
        print(f"{app.frames} frames; frame time median {median:.2f} ms, p99 {p99:.2f} ms "
              f"(CPU {cpu:.2f} / {cpu99:.2f} ms); "
              f"drew {len(app.renderer.drawn)} of {len(app.link.client.entities)} entities "
              f"in view; {app.hud.lines[0]}, {app.hud.lines[2]}"
              + (f"; screenshot {args.screenshot}" if args.screenshot else ""))
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the window opened (or while it closes)
        sys.exit(130)
