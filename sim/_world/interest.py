"""Area-of-interest deltas: what a viewer must be sent to see the ids in its view, given
the ids it already holds and the ids that changed since it got them; the per-viewer hot
part of snapshot sync (server/sync.py), done once per viewer per snapshot.

    ids, recs, entered, size = interest_delta(
        visible, held, skip, changed, full, deltas, make_full, make_delta)

Records are opaque ``bytes`` (this layer knows no wire format): ``full`` and ``deltas`` map
an id to its record, shared by every viewer of a build; a missing one is made by
``make_full(id)`` / ``make_delta(id)`` and stored there for the next viewer.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable

__all__ = ["interest_delta"]

Maker = Callable[[int], bytes]


def interest_delta(visible: Iterable[int], held: Container[int] | None, skip: Container[int],
                   changed: Container[int], full: dict[int, bytes], deltas: dict[int, bytes],
                   make_full: Maker, make_delta: Maker) -> tuple[list[int], list[bytes], int, int]:
    """For each id of `visible`, in its order: one not in `held` (None: the viewer holds
    nothing) and not in `skip` has entered, and gets its full record; one in `held` and in
    `changed` gets its delta record; the others need nothing.  Returns ``(ids, records,
    entered, size)``: the entered ids then the changed ones, their records in the same
    order, how many entered (the first of `ids`), and the records' total length in bytes.
    TypeError if a maker returns anything but bytes (nothing is stored then)."""
    # A C version runs instead: sim._speedups.interest_delta (see sim/_twins.py).
    in_ids: list[int] = []
    in_recs: list[bytes] = []
    ch_ids: list[int] = []
    ch_recs: list[bytes] = []
    size = 0
    for eid in visible:
        if held is not None and eid in held:
            if eid not in changed:
                continue
            rec = deltas.get(eid)
            if rec is None:
                rec = deltas[eid] = _made(make_delta, eid)
            ch_ids.append(eid)
            ch_recs.append(rec)
        elif held is None or eid not in skip:
            rec = full.get(eid)
            if rec is None:
                rec = full[eid] = _made(make_full, eid)
            in_ids.append(eid)
            in_recs.append(rec)
        else:
            continue
        size += len(rec)
    entered = len(in_ids)
    in_ids += ch_ids
    in_recs += ch_recs
    return in_ids, in_recs, entered, size


def _made(make: Maker, eid: int) -> bytes:
    rec = make(eid)
    if type(rec) is not bytes:
        raise TypeError(f"a record maker returned {type(rec).__name__} for id {eid}, "
                        "not bytes")
    return rec
