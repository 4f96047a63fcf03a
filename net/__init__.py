"""Loom's network layer: sans-I/O framing and protocol, limits, and a plain-socket client.

Import from here, not from the `_private` modules. `net` never imports `server`; the
framing, protocol and client never import `sim` either (only the pump does).
"""

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
from net._protocol import (
    CLIENT_TYPES,
    PROTOCOL_VERSION,
    SERVER_TYPES,
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
    Snapshot,
    Welcome,
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

# The socket pump (net/_pump.py, uses sim's tasklets and channels) is re-exported here
# by its author: add "Pump" to __all__ below. Prefer a lazy module `__getattr__`
# ("Pump" -> `from net._pump import Pump`) over a top-level import, so that
# `import net.client` in a pygame client or a bot process never loads `sim`.

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
    "PROTOCOL_VERSION",
    "SERVER_TYPES",
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
    "Snapshot",
    "Welcome",
    "encode_message",
    "parse",
    "parse_from_client",
    "parse_from_server",
    "to_wire",
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
    # pump: "Pump" goes here
]
