/* One client's part of a snapshot build in one call (server.sync's Sync._client; the twin,
 * Sync._client_py, is the specification): where it looks from, what it sees, and its
 * SNAPSHOT frame.
 *
 *   locate    an avatar's position (world.get(id).pos, read from the dict World.get reads,
 *             world._entities); a spectator's: Sync._locate
 *   see       interest_see (grid.c) on the build's index; when ids came or went, their
 *             viewer counts (Tracked.viewers); Sync._seen starts tracking those that came
 *             untracked, or re-reads them after a time nobody saw them
 *   base      the newest acknowledged snapshot the change log still reaches, or none
 *   delta     interest_delta (interest.c) against it, with the build's shared records
 *             (Records._full, ._deltas, ._since; Records.delta_lookup and .changed_since
 *             make a missing entry)
 *   send      the common case: a base with no `older` ids (or none), the records within
 *             the byte budget and the protocol's count, room for every removal, numbers
 *             frame_of (snapshot.c) takes: the frame, then the client's history entry and
 *             the statistics.  Anything else: Sync._send, given the delta, decides.
 *
 * The objects read: Sync, Records, _Client, _Held and Tracked (Loom's own, their slots at
 * offsets read from their member descriptors at setup_sync; a _Held is made with its
 * type's tp_alloc and its three slots set, as its __init__ does); everything else through
 * CPython's public API.  A Sync of a subclass, a client or records of another type: the
 * twin.
 */

#include "common.h"

static PyTypeObject *Sync_T, *Records_T, *Client_T, *Held_T, *Tracked_T;

enum { S_WORLD, S_BUDGET, S_KEEP, S_MAX_FRAME, S_TRACKED, S_RECORDS, S_INDEX, S_CLOCK,
       S_COUNTS, S_N };
static const char *const sync_slots[S_N] = {"world", "budget", "keep", "max_frame", "_tracked",
                                            "_records", "_index", "_clock", "_counts"};
static Py_ssize_t s_off[S_N];

enum { R_BUILD, R_SPAN, R_FULL, R_MAKE_FULL, R_DELTAS, R_SINCE, R_N };
static const char *const records_slots[R_N] = {"build", "span", "_full", "_make_full",
                                               "_deltas", "_since"};
static Py_ssize_t r_off[R_N];

enum { C_VIEWPOINT, C_POS, C_RADIUS, C_LEAVE, C_VISIBLE, C_HISTORY, C_ACKED, C_NUM, C_FRESH,
       C_N };
static const char *const client_slots[C_N] = {"viewpoint", "pos", "radius", "leave", "visible",
                                              "history", "acked", "num", "fresh"};
static Py_ssize_t c_off[C_N];

enum { H_BUILD, H_IDS, H_OLDER, H_N };
static const char *const held_slots[H_N] = {"build", "ids", "older"};
static Py_ssize_t h_off[H_N];

enum { T_VIEWERS, T_STALE, T_N };
static const char *const tracked_slots[T_N] = {"viewers", "stale"};
static Py_ssize_t t_off[T_N];

static Py_ssize_t max_records;  /* net.MAX_SNAPSHOT_ENTITIES */

/* Attribute and method names. */
static PyObject *s_entities, *s_pos, *s_locate, *s_see, *s_seen, *s_snapshot, *s_send,
    *s_client_py, *s_delta_lookup, *s_changed_since, *k_full, *k_delta, *k_sent, *k_bytes,
    *empty, *zero;

PyObject *
sp_setup_sync(PyObject *self, PyObject *args)
{
    PyTypeObject *sync, *records, *client, *held, *tracked;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!n:setup_sync", &PyType_Type, &sync, &PyType_Type,
                          &records, &PyType_Type, &client, &PyType_Type, &held, &PyType_Type,
                          &tracked, &limit))
        return NULL;
    Py_ssize_t so[S_N], ro[R_N], co[C_N], ho[H_N], to[T_N];
    int found = slots_of(sync, sync_slots, S_N, so);
    if (found > 0)
        found = slots_of(records, records_slots, R_N, ro);
    if (found > 0)
        found = slots_of(client, client_slots, C_N, co);
    if (found > 0)
        found = slots_of(held, held_slots, H_N, ho);
    if (found > 0)
        found = slots_of(tracked, tracked_slots, T_N, to);
    if (found <= 0) {
        if (found == 0)
            PyErr_SetString(PyExc_TypeError, "setup_sync(): a type lost a slot");
        return NULL;
    }
    memcpy(s_off, so, sizeof so);
    memcpy(r_off, ro, sizeof ro);
    memcpy(c_off, co, sizeof co);
    memcpy(h_off, ho, sizeof ho);
    memcpy(t_off, to, sizeof to);
    Py_INCREF(tracked);
    Py_XSETREF(Tracked_T, tracked);
    Py_INCREF(sync);
    Py_XSETREF(Sync_T, sync);
    Py_INCREF(records);
    Py_XSETREF(Records_T, records);
    Py_INCREF(client);
    Py_XSETREF(Client_T, client);
    Py_INCREF(held);
    Py_XSETREF(Held_T, held);
    max_records = limit;
    Py_RETURN_NONE;
}

/* o, an exact int in a long long: 1; 0 otherwise (no error left). */
static int
ll_of(PyObject *o, long long *v)
{
    if (o == NULL || !PyLong_CheckExact(o))
        return 0;
    int overflow;
    *v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (*v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return !overflow;
}

/* A slot that must be set (at offset off of o, named name): a new reference, or NULL with
   AttributeError, as Python raises. */
static PyObject *
slot_ref(PyObject *o, Py_ssize_t off, const char *name)
{
    PyObject *v = get(o, off, name);
    return v == NULL ? NULL : Py_NewRef(v);
}
#define SYNC(o, i) slot_ref(o, s_off[i], sync_slots[i])
#define RECORDS(o, i) slot_ref(o, r_off[i], records_slots[i])

/* obj.name(c): 0 or -1. */
static int
call_void(PyObject *obj, PyObject *name, PyObject *c)
{
    PyObject *r = PyObject_CallMethodOneArg(obj, name, c);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Sync._locate: an avatar's position, when it lives. */
static int
locate(PyObject *sync, PyObject *c)
{
    PyObject *vp = SLOT(c, c_off[C_VIEWPOINT]);
    if (vp == NULL || !PyLong_CheckExact(vp))
        return call_void(sync, s_locate, c);  /* a spectator's (x, y) */
    PyObject *world = SYNC(sync, S_WORLD);
    if (world == NULL)
        return -1;
    /* world.get(id) is world._entities.get(id): the dict, not a Python call per client */
    PyObject *entities = PyObject_GetAttr(world, s_entities);
    Py_DECREF(world);
    if (entities == NULL)
        return -1;
    if (!PyDict_CheckExact(entities)) {
        Py_DECREF(entities);
        PyErr_SetString(PyExc_TypeError, "world._entities must be a dict");
        return -1;
    }
    PyObject *e = PyDict_GetItemWithError(entities, vp);  /* borrowed */
    int rc;
    if (e == NULL)
        rc = PyErr_Occurred() ? -1 : 0;
    else {
        Py_INCREF(e);
        rc = put(c, c_off[C_POS], PyObject_GetAttr(e, s_pos));
        Py_DECREF(e);
    }
    Py_DECREF(entities);
    return rc;
}

/* A tracked entity's viewers as a C long: 1, or 0 when it is not such a Tracked. */
static int
viewers_of(PyObject *t, long *v)
{
    PyObject *n = Py_TYPE(t) == Tracked_T ? SLOT(t, t_off[T_VIEWERS]) : NULL;
    if (n == NULL || !PyLong_CheckExact(n))
        return 0;
    int overflow;
    *v = PyLong_AsLongAndOverflow(n, &overflow);
    return !overflow && *v > LONG_MIN && *v < LONG_MAX;
}

/* Sync._seen(came, gone): the viewer counts of tracked entities in C; the ids that came and
   are not tracked yet, or were stale and unseen, go to Sync._seen (with nothing gone).  Any
   entry that is not a plain Tracked: all of it to Sync._seen.  0 or -1. */
static int
seen(PyObject *sync, PyObject *came, PyObject *gone)
{
    PyObject *tracked = SYNC(sync, S_TRACKED), *rest = NULL;
    if (tracked == NULL)
        return -1;
    int rc = -1, plain = PyDict_CheckExact(tracked) && PyList_CheckExact(came)
                         && PyList_CheckExact(gone);
    long v;
    /* First every entry checked (nothing changes yet), then every count changed. */
    for (int pass = 0; pass < 2 && plain; pass++) {
        for (Py_ssize_t i = 0; plain && i < PyList_GET_SIZE(gone); i++) {
            PyObject *t = PyDict_GetItemWithError(tracked, PyList_GET_ITEM(gone, i));
            if (t == NULL && PyErr_Occurred())
                goto done;
            if (t != NULL && !(plain = viewers_of(t, &v)))
                break;
            if (t != NULL && pass && put(t, t_off[T_VIEWERS], PyLong_FromLong(v - 1)) < 0)
                goto done;
        }
        for (Py_ssize_t i = 0; plain && i < PyList_GET_SIZE(came); i++) {
            PyObject *eid = PyList_GET_ITEM(came, i);
            PyObject *t = PyDict_GetItemWithError(tracked, eid);
            if (t == NULL && PyErr_Occurred())
                goto done;
            if (t == NULL) {
                if (pass && ((rest == NULL && (rest = PyList_New(0)) == NULL)
                             || PyList_Append(rest, eid) < 0))
                    goto done;
                continue;
            }
            PyObject *stale = SLOT(t, t_off[T_STALE]);
            if (!(plain = viewers_of(t, &v) && (stale == Py_True || stale == Py_False)))
                break;
            if (!pass)
                continue;
            if (stale == Py_True && v == 0) {  /* refreshed by Sync._seen */
                if ((rest == NULL && (rest = PyList_New(0)) == NULL)
                    || PyList_Append(rest, eid) < 0)
                    goto done;
            }
            else if (put(t, t_off[T_VIEWERS], PyLong_FromLong(v + 1)) < 0)
                goto done;
        }
    }
    rc = 0;
    if (!plain || rest != NULL) {
        PyObject *nothing = plain ? PyList_New(0) : NULL;
        PyObject *a[3] = {sync, plain ? rest : came, plain ? nothing : gone};
        PyObject *r = plain && nothing == NULL ? NULL
                                               : PyObject_VectorcallMethod(s_seen, a, 3, NULL);
        Py_XDECREF(nothing);
        Py_XDECREF(r);
        rc = r == NULL ? -1 : 0;
    }
done:
    Py_XDECREF(rest);
    Py_DECREF(tracked);
    return rc;
}

/* Sync._see: the view now, and who sees what. */
static int
see(PyObject *sync, PyObject *c)
{
    PyObject *pos = SLOT(c, c_off[C_POS]), *visible = SLOT(c, c_off[C_VISIBLE]);
    PyObject *r = SLOT(c, c_off[C_RADIUS]), *leave = SLOT(c, c_off[C_LEAVE]);
    if (pos == NULL || !PyTuple_CheckExact(pos) || PyTuple_GET_SIZE(pos) != 2
        || visible == NULL || r == NULL || leave == NULL)
        return call_void(sync, s_see, c);
    PyObject *index = SYNC(sync, S_INDEX);
    if (index == NULL)
        return -1;
    PyObject *args[6] = {index, PyTuple_GET_ITEM(pos, 0), PyTuple_GET_ITEM(pos, 1),
                         Py_NewRef(r), Py_NewRef(leave), Py_NewRef(visible)};
    Py_INCREF(pos);  /* (the twin, if it runs, runs Python code) */
    PyObject *out = sp_interest_see(NULL, args, 6);
    Py_DECREF(pos);
    for (int i = 3; i < 6; i++)
        Py_DECREF(args[i]);
    Py_DECREF(index);
    if (out == NULL)
        return -1;
    int rc = -1;
    if (!PyTuple_CheckExact(out) || PyTuple_GET_SIZE(out) != 3) {
        PyErr_SetString(PyExc_TypeError, "interest_see() did not return 3 values");
        goto done;
    }
    PyObject *came = PyTuple_GET_ITEM(out, 1), *gone = PyTuple_GET_ITEM(out, 2);
    if (put_borrowed(c, c_off[C_VISIBLE], PyTuple_GET_ITEM(out, 0)) < 0)
        goto done;
    int any = PyObject_IsTrue(came);
    if (any == 0)
        any = PyObject_IsTrue(gone);
    if (any < 0)
        goto done;
    rc = any ? seen(sync, came, gone) : 0;
done:
    Py_DECREF(out);
    return rc;
}

/* records.<cache>[b] (the slot `cache`), or records.<make>(b) when it is not there: a new
   reference. */
static PyObject *
cached(PyObject *records, int cache, PyObject *make, PyObject *b)
{
    PyObject *map = RECORDS(records, cache);
    if (map == NULL)
        return NULL;
    PyObject *v = PyDict_CheckExact(map) ? PyDict_GetItemWithError(map, b) : NULL;
    Py_XINCREF(v);
    Py_DECREF(map);
    if (v != NULL || PyErr_Occurred())
        return v;
    return PyObject_CallMethodOneArg(records, make, b);
}

/* d[key] += by, for an int in d: 0 or -1. */
static int
bump(PyObject *d, PyObject *key, Py_ssize_t by)
{
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, key);
        return -1;
    }
    PyObject *n = PyLong_FromSsize_t(by);
    PyObject *sum = n == NULL ? NULL : PyNumber_Add(v, n);
    Py_XDECREF(n);
    if (sum == NULL)
        return -1;
    int rc = PyDict_SetItem(d, key, sum);
    Py_DECREF(sum);
    return rc;
}

/* The common case's end (see the top): the frame, or TWIN when it is not the common case
   (nothing changed then), or NULL with an error.  delta: interest_delta's 5-tuple. */
static PyObject *
send(PyObject *sync, PyObject *c, PyObject *build, PyObject *server_time, PyObject *input_ack,
     PyObject *base_num, PyObject *base, PyObject *delta)
{
    PyObject *recs = PyTuple_GET_ITEM(delta, 1), *gone = PyTuple_GET_ITEM(delta, 4);
    PyObject *older = base == NULL ? NULL : SLOT(base, h_off[H_OLDER]);
    PyObject *history = SLOT(c, c_off[C_HISTORY]);
    long long size, budget, max_frame, keep, num;
    unsigned long long tick, ack, bnum = 0;
    double st, dilation;
    if ((base != NULL && (older == NULL || !PyDict_CheckExact(older) || PyDict_GET_SIZE(older)))
        || !PyList_CheckExact(recs) || !PyList_CheckExact(gone) || history == NULL
        || !PyDict_CheckExact(history) || !ll_of(PyTuple_GET_ITEM(delta, 3), &size)
        || !ll_of(SLOT(c, c_off[C_NUM]), &num) || num >= LLONG_MAX)
        return TWIN;
    int ok;
    if (!ll_of(SLOT(sync, s_off[S_BUDGET]), &budget)
        || !ll_of(SLOT(sync, s_off[S_MAX_FRAME]), &max_frame)
        || !ll_of(SLOT(sync, s_off[S_KEEP]), &keep))
        return TWIN;
    Py_ssize_t n_recs = PyList_GET_SIZE(recs), n_gone = PyList_GET_SIZE(gone);
    if (size > budget || n_recs > max_records)
        return TWIN;  /* the byte budget: nearest first */
    if (base != NULL && n_gone) {
        long long left = max_frame - 256 - size;  /* Python's floor division by 9 */
        long long room = left >= 0 ? left / 9 : -((-left + 8) / 9);
        if (room > max_records)
            room = max_records;
        if (n_gone > room)
            return TWIN;  /* removals left for the next snapshot */
    }
    if (base != NULL && !as_uint(base_num, &bnum))
        return TWIN;
    PyObject *clock = SYNC(sync, S_CLOCK);
    if (clock == NULL)
        return NULL;
    ok = PyTuple_CheckExact(clock) && PyTuple_GET_SIZE(clock) == 2
         && as_uint(PyTuple_GET_ITEM(clock, 0), &tick)
         && as_double(PyTuple_GET_ITEM(clock, 1), &dilation) && as_uint(input_ack, &ack)
         && as_double(server_time, &st);
    Py_DECREF(clock);
    if (!ok)
        return TWIN;
    PyObject *frame = frame_of((unsigned long long)num + 1, bnum, tick, ack, st, dilation, recs,
                               gone, max_frame, NULL);
    if (frame == NULL || frame == TWIN)
        return frame;
    /* The client holds its view as of this build: its history entry, the oldest dropped. */
    PyObject *held = Held_T->tp_alloc(Held_T, 0);
    PyObject *n = PyLong_FromLongLong(num + 1), *old = PyLong_FromLongLong(num + 1 - keep);
    PyObject *counts = SYNC(sync, S_COUNTS);
    if (held == NULL || n == NULL || old == NULL || counts == NULL
        || put_borrowed(held, h_off[H_BUILD], build) < 0
        || put_borrowed(held, h_off[H_IDS], SLOT(c, c_off[C_VISIBLE])) < 0
        || put(held, h_off[H_OLDER], PyDict_New()) < 0
        || put_borrowed(c, c_off[C_NUM], n) < 0 || PyDict_SetItem(history, n, held) < 0
        || ((ok = PyDict_Contains(history, old)) > 0 && PyDict_DelItem(history, old) < 0)
        || ok < 0 || put_borrowed(c, c_off[C_FRESH], Py_False) < 0
        || !PyDict_Check(counts) || bump(counts, base == NULL ? k_full : k_delta, 1) < 0
        || bump(counts, k_sent, n_recs) < 0
        || bump(counts, k_bytes, PyBytes_GET_SIZE(frame)) < 0)
        Py_CLEAR(frame);
    if (frame == NULL && counts != NULL && !PyDict_Check(counts) && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "Sync._counts is not a dict");
    Py_XDECREF(held);
    Py_XDECREF(n);
    Py_XDECREF(old);
    Py_XDECREF(counts);
    return frame;
}

/* Sync._snapshot: the base, the delta, then send() or Sync._send. */
static PyObject *
snapshot(PyObject *sync, PyObject *c, PyObject *build, PyObject *server_time,
         PyObject *input_ack)
{
    PyObject *fresh = SLOT(c, c_off[C_FRESH]), *history = SLOT(c, c_off[C_HISTORY]);
    PyObject *acked = SLOT(c, c_off[C_ACKED]), *visible = SLOT(c, c_off[C_VISIBLE]);
    PyObject *twin_args[5] = {sync, c, build, server_time, input_ack};
    if (fresh == NULL || history == NULL || acked == NULL || visible == NULL
        || !PyDict_CheckExact(history))
        return PyObject_VectorcallMethod(s_snapshot, twin_args, 5, NULL);
    int f = PyObject_IsTrue(fresh);
    if (f < 0)
        return NULL;
    PyObject *base_num = Py_NewRef(f ? zero : acked), *base = NULL, *records = NULL;
    PyObject *delta = NULL, *out = NULL, *full = NULL, *make_full = NULL, *lookup = NULL;
    PyObject *changed = NULL;
    int has_base = PyObject_IsTrue(base_num);
    if (has_base < 0)
        goto done;
    if (has_base) {
        base = PyDict_GetItemWithError(history, base_num);
        if (base == NULL && PyErr_Occurred())
            goto done;
        Py_XINCREF(base);
    }
    if ((records = SYNC(sync, S_RECORDS)) == NULL)
        goto done;
    if (Py_TYPE(records) != Records_T) {
        out = PyObject_VectorcallMethod(s_snapshot, twin_args, 5, NULL);
        goto done;
    }
    if (base != NULL) {
        long long bb, rb, span;
        if (Py_TYPE(base) != Held_T || !ll_of(SLOT(base, h_off[H_BUILD]), &bb)
            || !ll_of(SLOT(records, r_off[R_BUILD]), &rb)
            || !ll_of(SLOT(records, r_off[R_SPAN]), &span)) {
            out = PyObject_VectorcallMethod(s_snapshot, twin_args, 5, NULL);
            goto done;
        }
        if (!(bb > rb - span))
            Py_CLEAR(base);  /* older than the change log reaches */
    }
    if (base == NULL)
        Py_SETREF(base_num, Py_NewRef(zero));
    if ((full = RECORDS(records, R_FULL)) == NULL
        || (make_full = RECORDS(records, R_MAKE_FULL)) == NULL)
        goto done;
    Py_INCREF(visible);
    if (base == NULL) {
        PyObject *args[8] = {visible, Py_None, empty, empty, full, full, make_full, make_full};
        delta = sp_interest_delta(NULL, args, 8);
    }
    else {
        PyObject *bb = SLOT(base, h_off[H_BUILD]);
        PyObject *ids = SLOT(base, h_off[H_IDS]), *older = SLOT(base, h_off[H_OLDER]);
        lookup = cached(records, R_DELTAS, s_delta_lookup, bb);
        if (lookup != NULL && (!PyTuple_CheckExact(lookup) || PyTuple_GET_SIZE(lookup) != 2)) {
            Py_DECREF(lookup);
            lookup = PyObject_CallMethodOneArg(records, s_delta_lookup, bb);
            if (lookup != NULL && (!PyTuple_CheckExact(lookup) || PyTuple_GET_SIZE(lookup) != 2)) {
                PyErr_SetString(PyExc_TypeError, "Records.delta_lookup() is not a pair");
                Py_CLEAR(lookup);
            }
        }
        if (lookup != NULL && ids != NULL && older != NULL
            && (changed = cached(records, R_SINCE, s_changed_since, bb)) != NULL) {
            PyObject *args[8] = {visible, ids, older, changed, full,
                                 PyTuple_GET_ITEM(lookup, 0), make_full,
                                 PyTuple_GET_ITEM(lookup, 1)};
            delta = sp_interest_delta(NULL, args, 8);
        }
        else if (lookup != NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "a _Held without ids or older");
    }
    Py_DECREF(visible);
    if (delta == NULL)
        goto done;
    if (!PyTuple_CheckExact(delta) || PyTuple_GET_SIZE(delta) != 5) {
        PyErr_SetString(PyExc_TypeError, "interest_delta() did not return 5 values");
        goto done;
    }
    out = send(sync, c, build, server_time, input_ack, base_num, base, delta);
    if (out == TWIN) {
        PyObject *a[12] = {sync, c, build, server_time, input_ack, base_num,
                           base == NULL ? Py_None : base};
        for (int i = 0; i < 5; i++)
            a[7 + i] = PyTuple_GET_ITEM(delta, i);
        out = PyObject_VectorcallMethod(s_send, a, 12, NULL);
    }
done:
    Py_XDECREF(base_num);
    Py_XDECREF(base);
    Py_XDECREF(records);
    Py_XDECREF(full);
    Py_XDECREF(make_full);
    Py_XDECREF(lookup);
    Py_XDECREF(changed);
    Py_XDECREF(delta);
    return out;
}

/* Sync._client(c, build, server_time, input_ack) */
PyObject *
m_sync_client(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (Client_T == NULL || kwnames != NULL || nargs != 4 || Py_TYPE(self) != Sync_T
        || Py_TYPE(args[0]) != Client_T) {  /* (a subclass of Sync may override a step) */
        PyObject *twin = PyObject_GetAttr(self, s_client_py);  /* the twin says what's wrong */
        PyObject *r = twin == NULL ? NULL : PyObject_Vectorcall(twin, args, nargs, kwnames);
        Py_XDECREF(twin);
        return r;
    }
    PyObject *c = args[0];
    if (locate(self, c) < 0 || see(self, c) < 0)
        return NULL;
    return snapshot(self, c, args[1], args[2], args[3]);
}

/* sync_client(sync, c, build, server_time, input_ack): the same as a function. */
PyObject *
sp_sync_client(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "sync_client() needs a Sync");
        return NULL;
    }
    return m_sync_client(args[0], args + 1, nargs - 1, kwnames);
}

int
sync_init(PyObject *m)
{
    static const struct {
        PyObject **var;
        const char *s;
    } names[] = {
        {&s_entities, "_entities"}, {&s_pos, "pos"}, {&s_locate, "_locate"}, {&s_see, "_see"},
        {&s_seen, "_seen"}, {&s_snapshot, "_snapshot"}, {&s_send, "_send"},
        {&s_client_py, "_client_py"}, {&s_delta_lookup, "delta_lookup"},
        {&s_changed_since, "changed_since"}, {&k_full, "full"}, {&k_delta, "delta"},
        {&k_sent, "sent"}, {&k_bytes, "bytes"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (INTERN(*names[i].var, names[i].s) < 0)
            return -1;
    }
    return (empty = PyTuple_New(0)) == NULL || (zero = PyLong_FromLong(0)) == NULL ? -1 : 0;
}
