"""What entities say to each other and the world's errors: ``Message`` with a plain-data
payload (checked, so that messages could cross a process boundary), the client sender id, and
``WorldError`` with its subclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidPayload, NotExposed, WorldError

__all__ = ["CLIENT", "InvalidPayload", "Message", "NotExposed", "WorldError", "check_payload"]

#: ``Message.sender`` of input that comes from a client (entity ids start at 1).
CLIENT = 0
_MAX_DEPTH = 32
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1  # what msgpack can carry


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Message:
    """What an inbox holds: ``kind`` says what it is, ``sender`` is the sending entity's id
    (``CLIENT`` = 0 for client input), ``payload`` is plain data (see :func:`check_payload`)."""

    kind: str
    sender: int
    payload: Any = None


def check_payload(value: Any, path: str = "payload", _depth: int = 0) -> None:
    """Raise :class:`InvalidPayload` unless ``value`` is plain data msgpack can carry:
    None, bool, int (64-bit), float, str, bytes, and lists/tuples/dicts (str keys) of those,
    nested at most 32 deep.  Messages must not carry live objects: entities are addressed
    by id, so the same message can cross a process boundary later."""
    t = type(value)
    if t is str or t is float or t is bool or value is None or t is bytes:
        return
    if t is int:
        if not _INT_MIN <= value <= _UINT_MAX:
            raise InvalidPayload(f"{path}: int {value} is outside the 64-bit range")
        return
    if _depth >= _MAX_DEPTH:
        raise InvalidPayload(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if t is list or t is tuple:
        for i, item in enumerate(value):
            check_payload(item, f"{path}[{i}]", _depth + 1)
        return
    if t is dict:
        for k, item in value.items():
            if type(k) is not str:
                raise InvalidPayload(f"{path}: dict keys must be str, got {k!r}")
            check_payload(item, f"{path}[{k!r}]", _depth + 1)
        return
    text = repr(value)
    raise InvalidPayload(
        f"{path}: {t.__name__} is not plain data (None, bool, int, float, str, bytes, "
        f"list, tuple, dict with str keys): {text[:80]}"
    )


