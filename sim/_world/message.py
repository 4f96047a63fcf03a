"""What entities say to each other and the world's errors: ``Message`` with a plain-data
payload (checked, so that messages could cross a process boundary), the client sender id, and
``WorldError`` with its subclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._limits import check_value
from ..errors import InvalidPayload, NotExposed, WorldError

__all__ = ["CLIENT", "InvalidPayload", "Message", "NotExposed", "WorldError", "check_payload"]

#: ``Message.sender`` of input that comes from a client (entity ids start at 1).
CLIENT = 0


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Message:
    """What an inbox holds: ``kind`` says what it is, ``sender`` is the sending entity's id
    (``CLIENT`` = 0 for client input), ``payload`` is plain data (see :func:`check_payload`)."""

    kind: str
    sender: int
    payload: Any = None


def check_payload(value: Any, path: str = "payload") -> None:
    """Raise :class:`InvalidPayload` unless ``value`` is a plain value (``sim._limits``, the
    wire's rule): None, bool, int within ±(2**53 - 1), finite float within ±1e15, str of at
    most 256 characters, and lists/tuples/dicts (str keys) of those, nested at most 8 deep,
    512 values in all; no bytes.  Messages must not carry live objects: entities are addressed
    by id, so the same message can cross a process boundary, or reach a client, later."""
    check_value(value, path, error=InvalidPayload)
