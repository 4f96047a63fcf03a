"""The server's configuration: command-line flags over a TOML `--config` file over the
defaults table (server/defaults.py), checked into one frozen `Config`. Every mistake is a
`ConfigError` whose message fits on one line; `python -m server` prints it and exits 2."""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from net import Limits
from server.defaults import DEFAULTS, LIMIT_SETTINGS, Setting, by_name
from sim import parse_world_args

__all__ = ["Config", "ConfigError", "build_parser", "parse_config", "world_module_name"]

PROG = "python -m server"

# The built-in world answers to a short name too.
_WORLD_ALIASES = {"sandbox": "server.sandbox"}


class ConfigError(Exception):
    """A bad flag, value or config file; the message is one line meant for a person."""


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    """Everything the server reads at start-up (see server/defaults.py for each)."""

    host: str = "127.0.0.1"
    port: int = 7777
    world: str = "server.sandbox"
    world_args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tick_rate: float = 30.0
    snapshot_rate: float = 20.0
    max_clients: int = 2000
    resume_grace: float = 30.0
    view_radius: float = 500.0
    auth: str = "none"
    secret_file: str | None = None
    data_dir: str = "loom-data"
    metrics_port: int | None = None
    admin_port: int | None = None
    admin_token_file: str | None = None
    deterministic: bool = False
    seed: int = 0
    slice_ms: float = 2.0
    inbox_capacity: int = 64
    dilation_floor: float = 0.1
    linger: float = 1.0
    log_level: str = "INFO"
    limits: Limits = dataclasses.field(default_factory=Limits)
    config_file: str | None = None


def world_module_name(name: str) -> str:
    """`--world`'s value as an importable module name ('sandbox' is server.sandbox)."""
    return _WORLD_ALIASES.get(name, name)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors raise ConfigError (one line) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def _flag_type(setting: Setting) -> Any:
    def convert(text: str) -> Any:
        try:
            return setting.kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return "none"
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per setting, each help line ending with its default."""
    parser = _Parser(
        prog=PROG,
        description="Loom's dedicated server: runs a world module on a fixed tick and serves "
                    "it to clients over TCP (docs/protocol.md). Prints 'listening on "
                    "HOST:PORT' when ready; SIGTERM or SIGINT send BYE to every client and "
                    "exit 0.",
        epilog="A --config FILE (TOML) may set any option by its name, e.g. tick_rate = 60 "
               "or world_arg = [\"npcs=10\"]; flags given on the command line win.",
        argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", metavar="FILE", dest="config_file",
                        help="read settings from this TOML file (default: none)")
    groups: dict[str, Any] = {}
    group: Any
    for setting in (*DEFAULTS, *LIMIT_SETTINGS):
        if setting.group == "server":
            group = parser
        elif setting.group not in groups:
            group = groups[setting.group] = parser.add_argument_group(
                setting.group, "what each client may send and how long it may take; every "
                "violation is an ERROR to that client and a log line")
        else:
            group = groups[setting.group]
        helptext = f"{setting.help} (default: {_shown(setting.default)})"
        if isinstance(setting.default, bool):  # a switch; true/false in a config file
            group.add_argument(setting.flag, dest=setting.name, action="store_true",
                               help=helptext)
            continue
        group.add_argument(setting.flag, dest=setting.name, type=_flag_type(setting),
                           choices=setting.choices, help=helptext,
                           action="append" if setting.repeat else "store",
                           metavar="K=V" if setting.repeat else None if setting.choices
                           else setting.name.upper())
    return parser


def _load_file(path: str) -> dict[str, Any]:
    """The settings of a TOML file, converted and checked like flags."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    settings = by_name()
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        setting = settings.get(name)
        if setting is None:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
        try:
            if setting.repeat:
                if isinstance(value, dict):  # world_arg = {npcs = 5}
                    value = [f"{k}={v}" for k, v in value.items()]
                if not isinstance(value, list):
                    raise ValueError(f"expected a list, got {value!r}")
                out[name] = [setting.kind(v) for v in value]
                continue
            converted = setting.kind(value)
        except ValueError as exc:
            raise ConfigError(f"config file {path}: {key}: {exc}") from None
        if setting.choices and converted not in setting.choices:
            raise ConfigError(f"config file {path}: {key}: expected one of "
                              f"{', '.join(setting.choices)}, got {value!r}")
        out[name] = converted
    return out


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Flags over `--config FILE` over the defaults; raises ConfigError. (`--help` prints
    the help and exits 0, as argparse does.)"""
    flags = vars(build_parser().parse_args(argv))
    config_file = flags.pop("config_file", None)
    values = {s.name: s.default for s in (*DEFAULTS, *LIMIT_SETTINGS)}
    if config_file is not None:
        values.update(_load_file(config_file))
    values.update(flags)
    try:
        world_args = parse_world_args(values.pop("world_arg") or ())
    except ValueError as exc:
        raise ConfigError(f"--world-arg: {exc}") from None
    try:
        limits = Limits(max_clients=values["max_clients"],
                        **{s.name: values.pop(s.name) for s in LIMIT_SETTINGS})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad network limits: {exc}") from None
    if values["snapshot_rate"] > values["tick_rate"]:
        raise ConfigError(f"--snapshot-rate {values['snapshot_rate']:g} is above --tick-rate "
                          f"{values['tick_rate']:g}: a snapshot shows one tick")
    if not values["world"].strip():
        raise ConfigError("--world: expected a module name, got ''")
    return Config(world_args=world_args, limits=limits, config_file=config_file, **values)
