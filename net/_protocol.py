"""The wire protocol's messages: type numbers, one frozen dataclass per message, `to_wire`
and `parse` (every check in one place). On the wire a message is a msgpack array
`[type, field, ...]` in the field order of its dataclass; docs/protocol.md is the spec."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any, ClassVar

from net._framing import DEFAULT_MAX_OUTBOUND, encode
from net._shared import limits
from net._values import (
    MAX_STR_LEN,
    UINT32_MAX,
    check_float,
    check_int,
    check_number,
    check_optional_str,
    check_quantised,
    check_str,
    check_value,
    dequantise,
    fail,
    quantise,
)
from net.errors import (
    ErrorCode,
    InvalidMessage,
    MessageNotAllowed,
    UnknownMessageType,
    VersionMismatch,
)

__all__ = [
    "CLIENT_TYPES", "PROTOCOL_VERSION", "SERVER_TYPES", "Ack", "Bye", "Call", "EntityState",
    "Error", "Event", "Hello", "Input", "Message", "MessageType", "Ping", "Pong", "Result",
    "Snapshot", "Welcome", "check_method", "encode_message", "parse", "parse_from_client",
    "parse_from_server", "to_wire",
]

PROTOCOL_VERSION = 1

MAX_NAME_LEN = 32
MAX_AUTH_TOKEN_LEN = 512
MAX_RESUME_TOKEN_LEN = 128
MAX_METHOD_LEN = 64
MAX_CALL_ARGS = 16
MAX_RATE = 1000.0  # Hz; tick and snapshot rates
MAX_SNAPSHOT_ENTITIES = 8192
MAX_ENTITY_FIELDS_NODES = limits.MAX_ENTITY_FIELDS_NODES  # values in one entity's `fields`
_check_value = limits.check_value


class MessageType(enum.IntEnum):
    HELLO = 1
    WELCOME = 2
    INPUT = 3
    CALL = 4
    SNAPSHOT = 5
    EVENT = 6
    PING = 7
    PONG = 8
    ERROR = 9
    BYE = 10
    ACK = 11
    RESULT = 12


@dataclasses.dataclass(frozen=True, slots=True)
class Hello:
    """client → server, first message. `token`: auth token; `resume`: a WELCOME's
    resume token, to get the previous session back after a drop; `spectate`: join without
    an avatar, watching from a camera the client moves (INPUT `{"camera": [x, y]}`)."""

    TYPE: ClassVar[MessageType] = MessageType.HELLO
    version: int
    name: str
    token: str | None = None
    resume: str | None = None
    spectate: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Welcome:
    """server → client, handshake accepted. `server_time`: seconds since the server started
    (monotonic); `avatar`: the client's entity id (None: a spectator); `bounds`: the world's
    (width, height) from (0, 0), None if the server has no world; `wrap`: whether the world
    wraps around (positions then stay within the bounds)."""

    TYPE: ClassVar[MessageType] = MessageType.WELCOME
    client_id: int
    resume_token: str
    tick_rate: float
    snapshot_rate: float
    server_time: float
    avatar: int | None = None
    bounds: tuple[float, float] | None = None
    wrap: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Input:
    """client → server. `seq` increases by one per INPUT; `ack` is the number of the last
    SNAPSHOT the client received (0: none yet), the base for the next delta."""

    TYPE: ClassVar[MessageType] = MessageType.INPUT
    seq: int
    ack: int
    payload: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """client → server: call exposed `method` on the client's own avatar."""

    TYPE: ClassVar[MessageType] = MessageType.CALL
    seq: int
    method: str
    args: tuple[Any, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    """client → server: the number of the newest SNAPSHOT the client applied, for a client
    with no INPUT to send (a spectator, an idle player); INPUT.ack says the same."""

    TYPE: ClassVar[MessageType] = MessageType.ACK
    ack: int


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """server → client: what the CALL numbered `seq` returned (reliable, ordered with the
    EVENTs). A refused call gets an ERROR with `ref` = `seq` instead."""

    TYPE: ClassVar[MessageType] = MessageType.RESULT
    seq: int
    value: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class EntityState:
    """One entity inside a SNAPSHOT. None means "unchanged since the base snapshot";
    `kind` is set when the entity enters the client's view (a full record). `pos` is where
    the entity was at tick `at` (None: the snapshot's tick); from there it moves at `vel`
    (dead reckoning, docs/protocol.md §4)."""

    id: int
    kind: str | None = None
    pos: tuple[float, float] | None = None
    vel: tuple[float, float] | None = None
    fields: dict[str, Any] | None = None
    at: int | None = None

    def to_wire(self) -> list[Any]:
        """The wire record; the server may encode it once per tick and share it."""
        pos: list[int] | None = None
        if self.pos is not None:
            pos = [quantise(self.pos[0]), quantise(self.pos[1])]
            if self.at is not None:
                pos.append(self.at)
        return [
            self.id,
            self.kind,
            pos,
            None if self.vel is None else [quantise(self.vel[0]), quantise(self.vel[1])],
            self.fields,
        ]


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """server → client, `snapshot_rate` times a second. A delta against snapshot `base`
    (0: full snapshot). `input_ack`: last INPUT seq applied; `time_scale`: time dilation
    factor (1.0 = real time, floor 0.1)."""

    TYPE: ClassVar[MessageType] = MessageType.SNAPSHOT
    num: int
    base: int
    tick: int
    input_ack: int
    server_time: float
    time_scale: float
    entities: tuple[EntityState, ...] = ()
    removed: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """server → client, reliable and ordered (`seq` increases by one per EVENT)."""

    TYPE: ClassVar[MessageType] = MessageType.EVENT
    seq: int
    payload: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """Either direction; the receiver answers PONG with the same nonce and time."""

    TYPE: ClassVar[MessageType] = MessageType.PING
    nonce: int
    time: float


@dataclasses.dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[MessageType] = MessageType.PONG
    nonce: int
    time: float


@dataclasses.dataclass(frozen=True, slots=True)
class Error:
    """Either direction. `ref` None: fatal, the sender closes the connection after it.
    `ref` = a CALL's seq: that call was refused and the connection stays open."""

    TYPE: ClassVar[MessageType] = MessageType.ERROR
    code: int
    message: str = ""
    ref: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Bye:
    """Either direction: orderly close; the sender closes after it."""

    TYPE: ClassVar[MessageType] = MessageType.BYE
    reason: str = ""


Message = (Hello | Welcome | Input | Call | Snapshot | Event | Ping | Pong | Error | Bye | Ack
           | Result)

CLIENT_TYPES = frozenset({MessageType.HELLO, MessageType.INPUT, MessageType.CALL,
                          MessageType.PING, MessageType.PONG, MessageType.ERROR,
                          MessageType.BYE, MessageType.ACK})
SERVER_TYPES = frozenset({MessageType.WELCOME, MessageType.SNAPSHOT, MessageType.EVENT,
                          MessageType.PING, MessageType.PONG, MessageType.ERROR,
                          MessageType.BYE, MessageType.RESULT})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (Hello, Welcome, Input, Call, Snapshot, Event, Ping, Pong, Error, Bye, Ack,
                Result)
}


def to_wire(message: Message) -> list[Any]:
    """The msgpack-ready array for `message`. Does not validate: messages we build are
    trusted; `parse(to_wire(m)) == m` for every valid message."""
    t = int(message.TYPE)
    if isinstance(message, Snapshot):
        return [t, message.num, message.base, message.tick, message.input_ack,
                message.server_time, message.time_scale,
                [e.to_wire() for e in message.entities], list(message.removed)]
    if isinstance(message, Call):
        return [t, message.seq, message.method, list(message.args)]
    if isinstance(message, Error):
        return [t, int(message.code), message.message, message.ref]
    if isinstance(message, Hello):  # `spectate` is sent only when true
        return [t, message.version, message.name, message.token, message.resume,
                *((True,) if message.spectate else ())]
    if isinstance(message, Welcome):
        return [t, message.client_id, message.resume_token, message.tick_rate,
                message.snapshot_rate, message.server_time, message.avatar,
                None if message.bounds is None else list(message.bounds), message.wrap]
    return [t, *(getattr(message, name) for name in _FIELD_NAMES[type(message)])]


def encode_message(message: Message, max_frame: int = DEFAULT_MAX_OUTBOUND) -> bytes:
    """One complete frame for `message` (FrameTooLarge above `max_frame`)."""
    return encode(to_wire(message), max_frame)


# ---- parsing: every check on received data lives below -------------------------------

def _fields(obj: list[Any], name: str, lo: int, hi: int | None = None) -> list[Any]:
    hi = lo if hi is None else hi
    if not lo <= len(obj) <= hi:
        want = str(lo) if lo == hi else f"{lo}..{hi}"
        raise InvalidMessage(f"{name}: expected {want} elements, got {len(obj)}")
    return obj + [None] * (hi - len(obj))


def _hello(o: list[Any]) -> Hello:
    # The version is checked first and alone, so a client of any other version gets
    # VERSION_MISMATCH rather than BAD_MESSAGE about fields it lays out differently.
    if len(o) < 2:
        raise InvalidMessage("HELLO: missing protocol version")
    version = check_int(o[1], "HELLO.version", 0, UINT32_MAX)
    if version != PROTOCOL_VERSION:
        raise VersionMismatch(version, PROTOCOL_VERSION)
    _, _, name, token, resume, spectate = _fields(o, "HELLO", 3, 6)
    if type(spectate) is not bool and spectate is not None:
        raise fail("HELLO.spectate", "expected bool", spectate)
    return Hello(version, check_str(name, "HELLO.name", MAX_NAME_LEN, 1, printable=True),
                 check_optional_str(token, "HELLO.token", MAX_AUTH_TOKEN_LEN),
                 check_optional_str(resume, "HELLO.resume", MAX_RESUME_TOKEN_LEN),
                 bool(spectate))


def _welcome(o: list[Any]) -> Welcome:
    _, cid, resume, tick_rate, snap_rate, now, avatar, bounds, wrap = _fields(o, "WELCOME", 6, 9)
    if bounds is not None:
        if type(bounds) is not list or len(bounds) != 2:
            raise fail("WELCOME.bounds", "expected [width, height] or nil", bounds)
        bounds = (check_float(bounds[0], "WELCOME.bounds.width", 1e-3),
                  check_float(bounds[1], "WELCOME.bounds.height", 1e-3))
    if type(wrap) is not bool and wrap is not None:
        raise fail("WELCOME.wrap", "expected bool", wrap)
    return Welcome(check_int(cid, "WELCOME.client_id"),
                   check_str(resume, "WELCOME.resume_token", MAX_RESUME_TOKEN_LEN, 1),
                   _rate(tick_rate, "WELCOME.tick_rate"),
                   _rate(snap_rate, "WELCOME.snapshot_rate"),
                   check_float(now, "WELCOME.server_time", 0.0),
                   None if avatar is None else check_int(avatar, "WELCOME.avatar"),
                   bounds, bool(wrap))


def _rate(value: object, what: str) -> float:
    """A rate in (0, MAX_RATE] Hz, as docs/protocol.md §2 says."""
    rate = check_float(value, what, 0.0, MAX_RATE)
    if rate == 0.0:
        raise fail(what, f"out of range (0, {MAX_RATE:g}]", value)
    return rate


def _input(o: list[Any]) -> Input:
    # The hot message (every client, several times a second): a well-formed one is read
    # with the checks inline; anything else takes the general path, which says what is wrong.
    if len(o) == 4:
        seq, ack = o[1], o[2]
        if (type(seq) is int and type(ack) is int and 0 <= seq <= UINT32_MAX
                and 0 <= ack <= UINT32_MAX):
            return Input(seq, ack, _check_value(o[3], "INPUT.payload", error=InvalidMessage))
    _, seq, ack, payload = _fields(o, "INPUT", 4)
    return Input(check_int(seq, "INPUT.seq", 0, UINT32_MAX),
                 check_int(ack, "INPUT.ack", 0, UINT32_MAX),
                 check_value(payload, "INPUT.payload"))


def check_method(method: object, what: str = "CALL.method") -> str:
    """A CALL's method name: a public ASCII identifier of 1..64 characters (InvalidMessage
    otherwise). The client library checks it before sending, the server on receipt."""
    method = check_str(method, what, MAX_METHOD_LEN, 1)
    # Identifiers only, and never private: `_x` and dunders are not callable from outside
    # whatever the avatar's decorators say.
    if not method.isidentifier() or not method.isascii() or method.startswith("_"):
        raise fail(what, "expected a public ASCII identifier", method)
    return method


def _call(o: list[Any]) -> Call:
    _, seq, method, args = _fields(o, "CALL", 4)
    method = check_method(method)
    if type(args) is not list or len(args) > MAX_CALL_ARGS:
        raise fail("CALL.args", f"expected a list of at most {MAX_CALL_ARGS}", args)
    check_value(args, "CALL.args")
    return Call(check_int(seq, "CALL.seq", 0, UINT32_MAX), method, tuple(args))


def _pair(value: object, what: str, anchored: bool = False) -> tuple[float, float] | None:
    if value is None:
        return None
    if type(value) is not list or not 2 <= len(value) <= (3 if anchored else 2):
        raise fail(what, "expected [x, y" + (", tick?" if anchored else "") +
                   "] quantised ints or nil", value)
    return (dequantise(check_quantised(value[0], what + ".x")),
            dequantise(check_quantised(value[1], what + ".y")))


def _entity(value: object, index: int) -> EntityState:
    what = f"SNAPSHOT.entities[{index}]"
    if type(value) is not list:
        raise fail(what, "expected an array", value)
    eid, kind, pos, vel, fields = _fields(value, what, 5)
    if fields is not None:
        if type(fields) is not dict:
            raise fail(what + ".fields", "expected a map or nil", fields)
        check_value(fields, what + ".fields", max_nodes=MAX_ENTITY_FIELDS_NODES)
    at = pos[2] if type(pos) is list and len(pos) == 3 else None
    state = EntityState(check_int(eid, what + ".id"),
                        check_optional_str(kind, what + ".kind", MAX_STR_LEN),
                        _pair(pos, what + ".pos", anchored=True), _pair(vel, what + ".vel"),
                        fields, None if at is None else check_int(at, what + ".pos.tick"))
    if state.kind is not None and (state.pos is None or state.vel is None):
        # An entering record is complete: the client has nothing to take them from.
        raise fail(what, "an entering record (kind set) needs pos and vel", value)
    return state


def _snapshot(o: list[Any]) -> Snapshot:
    _, num, base, tick, input_ack, now, scale, entities, removed = _fields(o, "SNAPSHOT", 9)
    for what, seq in (("entities", entities), ("removed", removed)):
        if type(seq) is not list or len(seq) > MAX_SNAPSHOT_ENTITIES:
            raise fail(f"SNAPSHOT.{what}", f"expected a list of at most "
                       f"{MAX_SNAPSHOT_ENTITIES}", seq)
    snapshot = Snapshot(check_int(num, "SNAPSHOT.num", 1, UINT32_MAX),
                        check_int(base, "SNAPSHOT.base", 0, UINT32_MAX),
                        check_int(tick, "SNAPSHOT.tick"),
                        check_int(input_ack, "SNAPSHOT.input_ack", 0, UINT32_MAX),
                        check_float(now, "SNAPSHOT.server_time", 0.0),
                        check_float(scale, "SNAPSHOT.time_scale", 0.0, 1.0),
                        tuple(_entity(e, i) for i, e in enumerate(entities)),
                        tuple(check_int(r, f"SNAPSHOT.removed[{i}]")
                              for i, r in enumerate(removed)))
    ids = [e.id for e in snapshot.entities]
    ids.extend(snapshot.removed)
    if len(set(ids)) != len(ids):  # one state per entity and snapshot, or which one wins?
        seen: set[int] = set()
        for eid in ids:
            if eid in seen:
                raise fail("SNAPSHOT", "an id appears twice in entities and removed", eid)
            seen.add(eid)
    return snapshot


def _event(o: list[Any]) -> Event:
    _, seq, payload = _fields(o, "EVENT", 3)
    return Event(check_int(seq, "EVENT.seq", 0, UINT32_MAX), check_value(payload, "EVENT.payload"))


def _ping(o: list[Any]) -> Ping:
    _, nonce, at = _fields(o, "PING", 3)
    return Ping(check_int(nonce, "PING.nonce", 0, UINT32_MAX), check_number(at, "PING.time"))


def _pong(o: list[Any]) -> Pong:
    _, nonce, at = _fields(o, "PONG", 3)
    return Pong(check_int(nonce, "PONG.nonce", 0, UINT32_MAX), check_number(at, "PONG.time"))


def _error(o: list[Any]) -> Error:
    _, code, message, ref = _fields(o, "ERROR", 3, 4)
    code = check_int(code, "ERROR.code", 0, 0xFFFF)
    # Unknown codes are kept as plain ints: a newer server may add codes, and an old
    # client must still see the ERROR (and close) rather than choke on it.
    known = code in ErrorCode._value2member_map_
    return Error(ErrorCode(code) if known else code,
                 check_str(message, "ERROR.message", MAX_STR_LEN),
                 None if ref is None else check_int(ref, "ERROR.ref", 0, UINT32_MAX))


def _ack(o: list[Any]) -> Ack:
    _, ack = _fields(o, "ACK", 2)
    return Ack(check_int(ack, "ACK.ack", 0, UINT32_MAX))


def _result(o: list[Any]) -> Result:
    _, seq, value = _fields(o, "RESULT", 3)
    return Result(check_int(seq, "RESULT.seq", 0, UINT32_MAX), check_value(value, "RESULT.value"))


def _bye(o: list[Any]) -> Bye:
    _, reason = _fields(o, "BYE", 1, 2)
    return Bye("" if reason is None else check_str(reason, "BYE.reason", MAX_STR_LEN))


_PARSERS: dict[int, Callable[[list[Any]], Message]] = {
    MessageType.HELLO: _hello, MessageType.WELCOME: _welcome, MessageType.INPUT: _input,
    MessageType.CALL: _call, MessageType.SNAPSHOT: _snapshot, MessageType.EVENT: _event,
    MessageType.PING: _ping, MessageType.PONG: _pong, MessageType.ERROR: _error,
    MessageType.BYE: _bye, MessageType.ACK: _ack, MessageType.RESULT: _result,
}


def _parser(obj: object) -> tuple[int, Callable[[list[Any]], Message]]:
    if type(obj) is not list or not obj:
        raise fail("message", "expected a non-empty array [type, ...]", obj)
    kind = obj[0]
    if type(kind) is not int:
        raise fail("message type", "expected int", kind)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise UnknownMessageType(kind)
    return kind, parser


def parse(obj: object) -> Message:
    """Validate a decoded frame and return its message. Raises only ProtocolError
    subclasses: InvalidMessage (BAD_MESSAGE), UnknownMessageType (UNKNOWN_TYPE),
    VersionMismatch (VERSION_MISMATCH)."""
    return _parser(obj)[1](obj)  # type: ignore[arg-type]  # (_parser checked it is a list)


def _parse_directed(obj: object, allowed: frozenset[MessageType], sender: str) -> Message:
    # The order of checks is part of the protocol (docs/protocol.md §7): the type number,
    # then the direction, and only then the fields, so a message of the wrong direction is
    # NOT_ALLOWED whatever its fields look like.
    kind, parser = _parser(obj)
    if kind not in allowed:
        raise MessageNotAllowed(f"{MessageType(kind).name} may not be sent by a {sender}")
    return parser(obj)  # type: ignore[arg-type]


_INPUT = int(MessageType.INPUT)


def parse_from_client(obj: object) -> Message:
    """`parse`, plus MessageNotAllowed (NOT_ALLOWED) for server-only types."""
    if type(obj) is list and len(obj) == 4 and obj[0] == _INPUT and type(obj[0]) is int:
        return _input(obj)  # an INPUT, the usual message, straight to its reader
    return _parse_directed(obj, CLIENT_TYPES, "client")


def parse_from_server(obj: object) -> Message:
    """`parse`, plus MessageNotAllowed (NOT_ALLOWED) for client-only types."""
    return _parse_directed(obj, SERVER_TYPES, "server")
