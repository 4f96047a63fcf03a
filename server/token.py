"""Make an auth token for a server run with `--auth token`: prints one line, the token, for
player NAME, valid for TTL seconds. Use the secret the server uses (the same --secret-file,
or $LOOM_SECRET, or the same --data-dir).

    python -m server.token --secret-file F --name N --ttl S
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from server.auth import SECRET_ENV, AuthError, load_secret, make_token

__all__ = ["main"]

PROG = "python -m server.token"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _ttl(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 10 * 365 * 86400:
        raise argparse.ArgumentTypeError(f"must be > 0 and below ten years, got {text!r}")
    return value


def _name(text: str) -> str:
    if not 1 <= len(text) <= 32 or not text.isprintable():
        raise argparse.ArgumentTypeError(f"expected 1..32 printable characters (the HELLO "
                                         f"name), got {text!r}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog=PROG, description="Print a signed auth token for --auth token: "
                     "HMAC-SHA256 over the player's name and an expiry time.",
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--secret-file", help=f"file holding the server's secret (else "
                        f"${SECRET_ENV}, else DATA_DIR/secret)")
    parser.add_argument("--data-dir", default="loom-data",
                        help="the server's --data-dir, used when no other secret is given")
    parser.add_argument("--name", required=True, type=_name,
                        help="the player name the token is for (the client's HELLO name)")
    parser.add_argument("--ttl", type=_ttl, default=3600.0, help="seconds the token is valid")
    args = parser.parse_args(argv)
    try:
        secret = load_secret(args.secret_file, args.data_dir)
    except AuthError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(make_token(secret, args.name, time.time() + args.ttl), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
