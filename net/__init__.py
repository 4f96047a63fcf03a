"""Loom's network layer: sans-I/O framing and protocol, limits, and a plain-socket client.

Import from here, not from the `_private` modules. `net` never imports `server`; the
framing, protocol and client never import `sim` either (only the pump does): the value limits
they share with the world, sim/_limits.py, are loaded on their own (net/_shared.py).
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from net._framing import (
    DEFAULT_MAX_INBOUND,
    DEFAULT_MAX_OUTBOUND,
    HEADER_SIZE,
    Decoder,
    PartialFrame,
    encode,
    encode_body,
)
from net._limits import Limits, RateLimiter
from net._mirror import Mirror, MirroredEntity
from net._protocol import (
    CLIENT_TYPES,
    MAX_SNAPSHOT_ENTITIES,
    PROTOCOL_VERSION,
    SERVER_TYPES,
    Ack,
    Bye,
    Call,
    EntityState,
    Error,
    Event,
    Hello,
    Input,
    Message,
    MessageType,
    Ping,
    Pong,
    Result,
    Snapshot,
    Welcome,
    check_method,
    encode_message,
    parse,
    parse_from_client,
    parse_from_server,
    to_wire,
)
from net._values import (
    POSITION_QUANTUM,
    Movement,
    check_value,
    dequantise,
    parse_movement,
    quantise,
)
from net.client import Client
from net.errors import (
    ConnectionBroken,
    ConnectionClosed,
    ErrorCode,
    FrameTooLarge,
    HandshakeFailed,
    InvalidMessage,
    MalformedFrame,
    MessageNotAllowed,
    NetError,
    ProtocolError,
    UnknownMessageType,
    VersionMismatch,
)

# The socket pump uses sim's tasklets and channels, and the server's snapshot frames sim's
# C half: they are loaded on first use, so that `import net` or `import net.client` in a
# pygame client or a bot process never loads `sim`.
_LAZY = {"Pump": "net._pump", "PumpStatistics": "net._pump", "Connection": "net._connection",
         "ConnState": "net._connection", "encode_record": "net._snapshot",
         "snapshot_frame": "net._snapshot"}


if _TYPE_CHECKING:  # what mypy sees of the lazy names (those of sim's side: see server/app.py)
    from net._snapshot import encode_record, snapshot_frame


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'net' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    # framing
    "DEFAULT_MAX_INBOUND",
    "DEFAULT_MAX_OUTBOUND",
    "HEADER_SIZE",
    "Decoder",
    "PartialFrame",
    "encode",
    "encode_body",
    # limits
    "Limits",
    "RateLimiter",
    # protocol
    "CLIENT_TYPES",
    "MAX_SNAPSHOT_ENTITIES",
    "PROTOCOL_VERSION",
    "SERVER_TYPES",
    "Ack",
    "Bye",
    "Call",
    "EntityState",
    "Error",
    "Event",
    "Hello",
    "Input",
    "Message",
    "MessageType",
    "Ping",
    "Pong",
    "Result",
    "Snapshot",
    "Welcome",
    "check_method",
    "encode_message",
    "parse",
    "parse_from_client",
    "parse_from_server",
    "to_wire",
    # snapshots encoded once for many clients, and the client's mirror of them
    "Mirror",
    "MirroredEntity",
    "encode_record",
    "snapshot_frame",
    # payload values
    "POSITION_QUANTUM",
    "Movement",
    "check_value",
    "dequantise",
    "parse_movement",
    "quantise",
    # client
    "Client",
    # errors
    "ConnectionBroken",
    "ConnectionClosed",
    "ErrorCode",
    "FrameTooLarge",
    "HandshakeFailed",
    "InvalidMessage",
    "MalformedFrame",
    "MessageNotAllowed",
    "NetError",
    "ProtocolError",
    "UnknownMessageType",
    "VersionMismatch",
    # pump (loaded lazily: it imports sim)
    "ConnState",
    "Connection",
    "Pump",
    "PumpStatistics",
]
