"""The server's settings in one table: each `Setting` has its name, default, type and help.
`python -m server --help` is built from it, a `--config` file may set any of them, and the
network limits take their defaults from `net.Limits`, the network layer's own table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from net import Limits

__all__ = ["DEFAULTS", "LIMIT_SETTINGS", "Setting", "by_name"]

_LIMITS = Limits()


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """One option: `--name-with-dashes` on the command line, `name` in a config file.

    `kind` converts a string (a flag) or a TOML value to the setting's value, raising
    ValueError with the reason; `choices` restricts it; `repeat` collects a list."""

    name: str
    default: Any
    help: str
    kind: Callable[[Any], Any] = str
    choices: tuple[str, ...] | None = None
    repeat: bool = False
    group: str = "server"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _number(cast: Callable[[Any], Any], lo: float | None = None, hi: float | None = None,
            *, above: float | None = None) -> Callable[[Any], Any]:
    """A converter to int/float within bounds; booleans are refused (TOML `true` is not 1)."""

    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            number = cast(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected {'an integer' if cast is int else 'a number'}, "
                             f"got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {value!r}")
        if cast is int and isinstance(value, float) and value != number:
            raise ValueError(f"expected an integer, got {value!r}")
        if above is not None and not number > above:
            raise ValueError(f"must be > {above:g}, got {value!r}")
        if lo is not None and number < lo:
            raise ValueError(f"must be >= {lo:g}, got {value!r}")
        if hi is not None and number > hi:
            raise ValueError(f"must be <= {hi:g}, got {value!r}")
        return number

    convert.__name__ = cast.__name__  # argparse names the type in its messages
    return convert


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _optional_port(value: Any) -> int | None:
    return None if value is None else _number(int, 0, 65535)(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


_PORT = _number(int, 0, 65535)
_RATE = _number(float, hi=1000.0, above=0.0)
_POSITIVE = _number(float, above=0.0)

DEFAULTS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", "address to listen on", _text),
    Setting("port", 7777, "TCP port to listen on; 0 picks a free one (printed in the "
            "'listening on HOST:PORT' line)", _PORT),
    Setting("world", "server.sandbox", "world module to run (setup/on_join/on_leave); "
            "'sandbox' is the built-in one", _text),
    Setting("world_arg", (), "K=V passed to the world's setup(); repeatable "
            "(the sandbox reads npcs=N)", _text, repeat=True),
    Setting("tick_rate", 30.0, "simulation ticks per second", _RATE),
    Setting("snapshot_rate", 20.0, "snapshots per second sent to each client "
            "(independent of the tick rate)", _RATE),
    Setting("max_clients", _LIMITS.max_clients, "connections beyond this get ERROR "
            "SERVER_FULL", _number(int, 1)),
    Setting("resume_grace", 30.0, "wall-clock seconds a dropped client may resume its "
            "session (same client id and avatar)", _number(float, 0.0)),
    Setting("view_radius", 500.0, "world units around a client's avatar whose entities its "
            "snapshots carry", _POSITIVE),
    Setting("auth", "none", "'token': HELLO must carry a token made by python -m "
            "server.token (else AUTH_FAILED)", _text, choices=("none", "token")),
    Setting("secret_file", None, "file holding the token HMAC key (else $LOOM_SECRET, else "
            "one generated into DATA_DIR/secret, mode 0600)", _text),
    Setting("data_dir", "loom-data", "directory for the server's files (generated secrets)",
            _text),
    Setting("metrics_port", None, "serve GET /metrics (Prometheus text) and /status (JSON) "
            "on HOST at this port (0 picks one); off when unset", _optional_port),
    Setting("admin_port", None, "serve the admin console on this port of 127.0.0.1 (0 picks "
            "one); off when unset. One request a line, one JSON reply a line: 'auth TOKEN' "
            "first, then help, status, entities [KIND] [LIMIT], inspect ID, kill ID, "
            "quarantine ID, release ID, log-level LEVEL [LOGGER], top [LIMIT] [SORT], quit "
            "(python -m tools.top shows top live)", _optional_port),
    Setting("admin_token_file", None, "file holding the admin console's token (else "
            "$LOOM_ADMIN_TOKEN, else one generated into DATA_DIR/admin.token, mode 0600)",
            _text),
    Setting("deterministic", False, "deterministic preemption (budgets in units, not time), "
            "for replays; the default is hard wall-clock preemption", _boolean),
    Setting("seed", 0, "seed of the world's random generator", _number(int)),
    Setting("slice_ms", 2.0, "hard preemption slice of a tasklet, in milliseconds",
            _POSITIVE),
    Setting("inbox_capacity", 64, "messages an entity's inbox holds; a full avatar inbox "
            "stops reading that client's socket (TCP backpressure)", _number(int, 1)),
    Setting("dilation_floor", 0.1, "slowest simulation time may run under overload, as a "
            "fraction of real time", _number(float, hi=1.0, above=0.0)),
    Setting("linger", 1.0, "seconds a closed connection stays half-open so the client can "
            "read the final ERROR or BYE", _POSITIVE),
    Setting("log_level", "INFO", "log level (logs go to stderr)", _text,
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
)

# The network limits (net.Limits) a client meets; max_clients is above, with the server's.
_LIMIT_HELP = {
    "max_inbound_frame": "largest frame body a client may send, in bytes",
    "max_outbound_frame": "largest frame body the server sends, in bytes",
    "handshake_timeout": "seconds a client has from connecting to a complete HELLO",
    "idle_timeout": "seconds without any message from a client before it is closed",
    "ping_interval": "seconds of silence from a client before the server PINGs it",
    "message_rate": "messages per second a client may send, sustained",
    "message_burst": "messages a client may send at once after being quiet",
    "rate_grace": "seconds a client may stay over its rate before RATE_LIMITED",
    "high_water": "outgoing bytes buffered per client above which snapshots are coalesced",
    "slow_reader_grace": "seconds a client may stay above the high-water mark (SLOW_READER)",
    "partial_frame_timeout": "seconds a frame may stay incomplete (PARTIAL_FRAME_TIMEOUT)",
    "listen_backlog": "listen() backlog",
    "accepts_per_poll": "accept() calls per poll at most (a connect flood cannot starve "
                        "the others)",
}

LIMIT_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, getattr(_LIMITS, f.name),
            _LIMIT_HELP.get(f.name, f.name.replace("_", " ")),
            _number(type(f.default), above=0.0), group="network limits")
    for f in dataclasses.fields(Limits) if f.name != "max_clients"
)

_ALL = {s.name: s for s in (*DEFAULTS, *LIMIT_SETTINGS)}


def by_name() -> dict[str, Setting]:
    """Every setting by its name (the config file's key)."""
    return dict(_ALL)
