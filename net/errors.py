"""Every exception the net package raises, under one root (`NetError`), and the wire
error codes (`ErrorCode`) that ERROR frames carry. Names say the state; messages carry
the bad value and the limit it broke."""

from __future__ import annotations

import enum

__all__ = [
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
]


class ErrorCode(enum.IntEnum):
    """Codes carried by ERROR frames. Numbers are part of the wire format: never reuse one.

    A client acts on the code, not the text: e.g. VERSION_MISMATCH → upgrade,
    SERVER_FULL / SHUTTING_DOWN → retry later with backoff, RESUME_FAILED → fresh HELLO
    without a resume token, AUTH_FAILED → ask for new credentials.
    """

    BAD_FRAME = 1  # undecodable msgpack, zero-length frame, ext type, non-str key, trailing bytes
    FRAME_TOO_LARGE = 2  # length prefix above the receiver's limit
    BAD_MESSAGE = 3  # decodable, but a field has the wrong type or is out of range
    UNKNOWN_TYPE = 4  # message type number not in the table
    VERSION_MISMATCH = 5  # HELLO carried a protocol version the server does not speak
    SERVER_FULL = 6  # max clients reached
    HANDSHAKE_TIMEOUT = 7  # no HELLO (or no complete one) within the handshake timeout
    IDLE_TIMEOUT = 8  # nothing received (not even PONG) within the idle timeout
    RATE_LIMITED = 9  # messages arrived faster than the per-client rate limit allows
    SLOW_READER = 10  # outgoing buffer stayed above the high-water mark
    AUTH_FAILED = 11  # auth token refused
    NOT_ALLOWED = 12  # message not valid in this state / direction, or method not exposed
    SHUTTING_DOWN = 13  # server is stopping
    INTERNAL = 14  # server bug; the client did nothing wrong
    RESUME_FAILED = 15  # resume token unknown or expired: reconnect without it
    PARTIAL_FRAME_TIMEOUT = 16  # a frame stayed incomplete too long (slowloris)
    SESSION_TAKEN_OVER = 17  # another connection resumed this session: do not reconnect


class NetError(Exception):
    """Root of every error raised by `net`."""


class ProtocolError(NetError):
    """The peer broke the wire protocol. `.code` is what goes into the ERROR frame."""

    code: ErrorCode = ErrorCode.BAD_MESSAGE

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class MalformedFrame(ProtocolError):
    """A frame's bytes are not one valid msgpack object of the allowed kinds."""

    code = ErrorCode.BAD_FRAME


class FrameTooLarge(ProtocolError):
    """A frame (announced by its length prefix, or about to be encoded) exceeds the limit."""

    code = ErrorCode.FRAME_TOO_LARGE

    def __init__(self, size: int, limit: int, direction: str = "inbound") -> None:
        super().__init__(f"{direction} frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class InvalidMessage(ProtocolError):
    """A decoded message has a field of the wrong type, out of range, or too big."""

    code = ErrorCode.BAD_MESSAGE


class UnknownMessageType(ProtocolError):
    """The message type number is not in the protocol's table."""

    code = ErrorCode.UNKNOWN_TYPE

    def __init__(self, type_: object) -> None:
        super().__init__(f"unknown message type {type_!r}")
        self.type = type_


class MessageNotAllowed(ProtocolError):
    """A valid message that this side (or this connection state) must not receive."""

    code = ErrorCode.NOT_ALLOWED


class VersionMismatch(ProtocolError):
    """HELLO asked for a protocol version this side does not speak."""

    code = ErrorCode.VERSION_MISMATCH

    def __init__(self, got: int, supported: int) -> None:
        super().__init__(f"protocol version {got} not supported (server speaks {supported})")
        self.got = got
        self.supported = supported


class ConnectionBroken(NetError):
    """The transport failed: peer vanished, reset, EOF without BYE, or a socket error."""


class ConnectionClosed(NetError):
    """The connection was closed in an orderly way (BYE, ERROR, or `close()`); it cannot be
    used until reconnected. `.code` is set when the peer closed it with an ERROR frame."""

    def __init__(self, reason: str, code: ErrorCode | int | None = None) -> None:
        super().__init__(reason if code is None else f"{reason} (code {int(code)})")
        self.reason = reason
        self.code = code


class HandshakeFailed(NetError):
    """HELLO did not lead to WELCOME. `.code` is the server's ERROR code when it sent one
    (None for a timeout or a transport failure during the handshake)."""

    def __init__(self, reason: str, code: ErrorCode | int | None = None) -> None:
        super().__init__(reason if code is None else f"{reason} (code {int(code)})")
        self.reason = reason
        self.code = code
