"""Replicated fields: typed declarations on entity classes, validation on assignment,
per-entity dirty sets for snapshot deltas, msgpack-ready state, and a canonical state hash.
The server syncs, encodes and hashes exactly what is declared here, nothing else.
"""

from __future__ import annotations

import hashlib
import math
import struct
import sys
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any, Generic, TypeVar, get_args, get_origin, overload

from .._limits import (
    MAX_DEPTH,
    MAX_ENTITY_FIELDS_NODES,
    MAX_STR_LEN,
    check_float,
    check_int,
    check_str,
    check_value,
    fail,
)
from ..errors import InvalidFieldValue

__all__ = [
    "MAX_STR",
    "Field",
    "InvalidFieldValue",
    "canonical_bytes",
    "dirty_fields",
    "encode_state",
    "field",
    "fields",
    "state_hash",
]

V = TypeVar("V")
#: Longest str a field may hold, in characters (the wire's limit, as every value's).
MAX_STR = MAX_STR_LEN
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1  # what the state hash encodes as int64
_DIRTY = "_replicated_dirty"
_MISSING: Any = object()

Check = Callable[[Any, str], Any]

# Discussion: every value a field holds travels in snapshots, so the limits are the wire's
# (sim._limits: ints within ±(2**53 - 1), finite floats within ±1e15, str <= 256). The
# field's type is checked here first (an IntEnum is a fine int, an int a fine float); the
# limits are then checked by the same functions net's decoder uses.


def _fail(path: str, why: str, value: object) -> InvalidFieldValue:
    return fail(InvalidFieldValue, path, why, value)


def _check_int(v: Any, path: str) -> int:
    if type(v) is not int and isinstance(v, int) and not isinstance(v, bool):
        v = int(v)
    return check_int(v, path, error=InvalidFieldValue)


def _check_float(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(path, "expected float", v)
    return check_float(int(v) if isinstance(v, int) else float(v), path, error=InvalidFieldValue)


def _check_bool(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise _fail(path, "expected bool", v)
    return v


def _check_str(v: Any, path: str) -> str:
    if type(v) is not str and isinstance(v, str):
        v = str(v)
    return check_str(v, path, error=InvalidFieldValue)


_SCALARS: dict[Any, Check] = {
    int: _check_int,
    float: _check_float,
    bool: _check_bool,
    str: _check_str,
}


def _compile(tp: Any) -> Check:
    """A checker for a field type; it returns the value as stored (containers frozen)."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and len(args) == 1:
        item = _compile(args[0])

        def check_list(v: Any, path: str) -> tuple[Any, ...]:
            if not isinstance(v, list | tuple):
                raise _fail(path, "expected a list", v)
            return tuple(item(x, f"{path}[{i}]") for i, x in enumerate(v))

        return check_list
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _compile(list[args[0]])  # type: ignore[valid-type]
    if origin is tuple and args and Ellipsis not in args:
        items = [_compile(a) for a in args]

        def check_tuple(v: Any, path: str) -> tuple[Any, ...]:
            if not isinstance(v, list | tuple) or len(v) != len(items):
                raise _fail(path, f"expected a tuple of {len(items)}", v)
            return tuple(
                c(x, f"{path}[{i}]") for i, (c, x) in enumerate(zip(items, v, strict=True))
            )

        return check_tuple
    if origin is dict and len(args) == 2 and args[0] is str:
        value = _compile(args[1])

        def check_dict(v: Any, path: str) -> Mapping[str, Any]:
            if not isinstance(v, Mapping):
                raise _fail(path, "expected a dict", v)
            out = {}
            for k, x in v.items():
                out[_check_str(k, f"{path} key")] = value(x, f"{path}[{k!r}]")
            return types.MappingProxyType(out)

        return check_dict
    raise TypeError(
        f"unsupported replicated field type {tp!r}: use int, float, bool, str, or "
        "list[T], tuple[T, ...], tuple[T1, T2], dict[str, T] of those"
    )


def _compile_field(tp: Any) -> Check:
    """`_compile(tp)`, plus for containers the snapshot's bounds: a field sits one level down
    in an entity's `fields` map and counts against that map's node budget."""
    check = _compile(tp)
    if tp in _SCALARS:
        return check

    def check_field(v: Any, path: str) -> Any:
        new = check(v, path)
        check_value(_plain(new), path, error=InvalidFieldValue, max_depth=MAX_DEPTH - 1,
                    max_nodes=MAX_ENTITY_FIELDS_NODES - 1)
        return new

    return check_field


class Field(Generic[V]):
    """A replicated attribute: ``hp = Field(int, 100)``, or ``hp: int = field(100)``.

    Assignment validates the type and the limits every client decodes (``sim._limits``;
    ``InvalidFieldValue`` names the class, field, value and limit), stores
    containers frozen (lists become tuples, dicts read-only: assign a new value to change
    one, so that every change is seen), and marks the field dirty on the instance when the
    value changes.  Instances need a ``__dict__``.
    """

    def __init__(self, type_: Any = None, default: Any = _MISSING) -> None:
        self.type = type_
        self.name = "?"
        self._path = f"Field({type_!r})"
        self._check: Check | None = None
        self._default = default
        self.default: V = default
        if type_ is not None:
            self._resolve(type_)

    def _resolve(self, type_: Any) -> None:
        self.type = type_
        self._check = _compile_field(type_)
        if self._default is _MISSING:
            raise TypeError(f"replicated field {self._path} needs a default value")
        self.default = self._check(self._default, f"{self._path} (default)")

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self._path = f"{owner.__qualname__}.{name}"
        if self._check is None:
            ann = owner.__dict__.get("__annotations__", {}).get(name)
            if ann is None:
                raise TypeError(f"replicated field {self._path} has no type annotation")
            if isinstance(ann, str):  # from __future__ import annotations
                ann = eval(ann, dict(vars(sys.modules[owner.__module__])))
            self._resolve(ann)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Field[V]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> V: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Field[V] | V:
        if obj is None:
            return self
        value: V = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: V) -> None:
        assert self._check is not None
        new = self._check(value, self._path)
        d = obj.__dict__
        old = d.get(self.name, self.default)
        d[self.name] = new
        # -0.0 == 0.0, yet they hash differently: a sign change counts as a change
        if new != old or (type(new) is float and math.copysign(1, new) != math.copysign(1, old)):
            dirty = d.get(_DIRTY)
            if not dirty:
                if dirty is None:
                    dirty = d[_DIRTY] = set()
                # First change since the last clear: the owner may want to know (an entity
                # tells its world's change log), once per clear, not per assignment.
                note = getattr(type(obj), "_fields_dirtied", None)
                if note is not None:
                    note(obj)
            dirty.add(self.name)

    def __repr__(self) -> str:
        return f"Field({self.type!r}, {self.default!r}) at {self._path}"


def field(default: Any) -> Any:
    """``hp: int = field(100)``: a :class:`Field` typed by its annotation."""
    return Field(None, default)


_fields_cache: weakref.WeakKeyDictionary[type, dict[str, Field[Any]]] = weakref.WeakKeyDictionary()


def fields(cls: type) -> Mapping[str, Field[Any]]:
    """Replicated fields of ``cls`` by name, base classes' first, in declaration order."""
    found = _fields_cache.get(cls)
    if found is None:
        found = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    found.pop(name, None)
                    found[name] = value
                elif name in found:  # overridden by a plain attribute
                    del found[name]
        _fields_cache[cls] = found
    return types.MappingProxyType(found)


def dirty_fields(obj: object, *, clear: bool = False) -> list[str]:
    """Names of ``obj``'s fields changed since the last clear, in declaration order."""
    dirty: set[str] | None = obj.__dict__.get(_DIRTY)
    if not dirty:
        return []
    names = [n for n in fields(type(obj)) if n in dirty]
    if clear:
        dirty.clear()
    return names


_SCALAR_TYPES = frozenset({int, float, bool, str})


def _plain(value: Any) -> Any:
    if type(value) in _SCALAR_TYPES:
        return value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def encode_state(obj: object, names: Iterable[str] | None = None) -> dict[str, Any]:
    """``{field: value}`` of plain lists, dicts and scalars, ready for msgpack."""
    declared = fields(type(obj))
    d = obj.__dict__
    return {
        n: _plain(d.get(n, declared[n].default)) for n in (declared if names is None else names)
    }


_pack_tag_q = struct.Struct(">cq").pack
_pack_tag_d = struct.Struct(">cd").pack
_pack_tag_i = struct.Struct(">cI").pack
_str_cache: dict[str, bytes] = {}


def _encode_str(value: str) -> bytes:
    raw = _str_cache.get(value)
    if raw is None:
        data = value.encode("utf-8", "surrogatepass")
        raw = _pack_tag_i(b"s", len(data)) + data
        if len(_str_cache) < 4096:  # field names and kinds repeat: worth remembering
            _str_cache[value] = raw
    return raw


def _encode(value: Any, out: bytearray) -> None:
    # Tagged, length-prefixed, big-endian; floats by their IEEE 754 bytes; dicts by sorted
    # key.  Lists and tuples share a tag: a list field is stored as a tuple.
    t = type(value)
    if t is float:
        out += _pack_tag_d(b"f", value)
    elif t is int:
        if _INT_MIN <= value <= _INT_MAX:
            out += _pack_tag_q(b"i", value)
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
            out += _pack_tag_i(b"I", len(raw)) + raw
    elif t is bool:
        out += b"T" if value else b"F"
    elif t is str:
        out += _encode_str(value)
    elif value is None:
        out += b"n"
    elif isinstance(value, list | tuple):
        out += _pack_tag_i(b"l", len(value))
        for v in value:
            _encode(v, out)
    elif isinstance(value, Mapping):
        out += _pack_tag_i(b"d", len(value))
        for k in sorted(value):
            if type(k) is not str:
                raise TypeError(f"state keys must be str, got {k!r}")
            out += _encode_str(k)
            v = value[k]
            if type(v) is float:  # the common case, inlined: this loop is the hot one
                out += _pack_tag_d(b"f", v)
            else:
                _encode(v, out)
    else:
        raise TypeError(f"cannot hash a {t.__name__} in replicated state: {value!r}")


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding :func:`state_hash` digests (stable across runs and hosts)."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def state_hash(states: Iterable[tuple[int, Mapping[str, Any]]]) -> str:
    """blake2b-128 (hex) of every entity's state, sorted by entity id, keys sorted by name.

    ``states`` yields ``(entity_id, {name: value})``; the world passes each entity's kind,
    position and :func:`encode_state` here.  Order of ``states`` and of keys does not matter;
    any change of a value, its type (1 vs 1.0 vs True) or a float's bits changes the hash.
    """
    h = hashlib.blake2b(b"loom-state/1", digest_size=16)
    out = bytearray()
    last: int | None = None
    for eid, state in sorted(states, key=itemgetter(0)):
        if eid == last:
            raise ValueError(f"entity id {eid} appears twice in the state")
        last = eid
        out += _pack_tag_q(b"e", eid)
        _encode(state, out)
        if len(out) > 1 << 16:
            h.update(out)
            out.clear()
    h.update(out)
    return h.hexdigest()
