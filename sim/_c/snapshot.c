/* A SNAPSHOT frame around records encoded once and shared (net.snapshot_frame; the twin,
 * net._snapshot._snapshot_frame_py, is the specification): the length header, the
 * 9-element array's head, the records' array header, the records' bytes, the removals.
 *
 * The common case only: every number a non-negative int below 2**64 (msgpack's unsigned
 * forms, the shortest that fits), the times floats or ints, the records a list of bytes,
 * the removals a list of such ints, max_frame an int, records_size absent or right, counts
 * within the protocol's and the frame within max_frame.  Anything else (and every error:
 * FrameTooLarge, ValueError, msgpack's own) goes to the twin, which decides.  The wire
 * constants (the SNAPSHOT type's encoding, the entity limit) are the protocol's, given by
 * setup_snapshot() (net sits above sim: this layer does not import it).
 */

#include "common.h"

static PyObject *frame_twin;      /* net._snapshot._snapshot_frame_py */
static PyObject *snapshot_type;   /* bytes: msgpack's encoding of MessageType.SNAPSHOT */
static Py_ssize_t max_entities;   /* net.MAX_SNAPSHOT_ENTITIES */
static long long default_max;     /* max_frame's default: net.DEFAULT_MAX_OUTBOUND */
static PyObject *str_records_size;

PyObject *
sp_setup_snapshot(PyObject *self, PyObject *args)
{
    PyObject *twin, *type;
    Py_ssize_t limit;
    long long max_frame;
    if (!PyArg_ParseTuple(args, "OSnL:setup_snapshot", &twin, &type, &limit, &max_frame))
        return NULL;
    if (!PyCallable_Check(twin) || limit < 0) {
        PyErr_SetString(PyExc_TypeError,
                        "setup_snapshot(twin, type_bytes, max_entities, max_frame)");
        return NULL;
    }
    Py_XSETREF(frame_twin, Py_NewRef(twin));
    Py_XSETREF(snapshot_type, Py_NewRef(type));
    max_entities = limit;
    default_max = max_frame;
    Py_RETURN_NONE;
}

/* msgpack's shortest unsigned form of v: its length. */
static inline Py_ssize_t
uint_len(unsigned long long v)
{
    return v < 128 ? 1 : v < (1ULL << 8) ? 2 : v < (1ULL << 16) ? 3 : v < (1ULL << 32) ? 5 : 9;
}

static inline char *
put_uint(char *p, unsigned long long v)
{
    int n;
    if (v < 128) {
        *p++ = (char)v;
        return p;
    }
    if (v < (1ULL << 8)) {
        *p++ = (char)0xCC;
        n = 1;
    }
    else if (v < (1ULL << 16)) {
        *p++ = (char)0xCD;
        n = 2;
    }
    else if (v < (1ULL << 32)) {
        *p++ = (char)0xCE;
        n = 4;
    }
    else {
        *p++ = (char)0xCF;
        n = 8;
    }
    for (int i = n - 1; i >= 0; i--)
        *p++ = (char)(v >> (8 * i));
    return p;
}

/* msgpack's array header for n elements: its length, and written. */
static inline Py_ssize_t
array_len(Py_ssize_t n)
{
    return n < 16 ? 1 : n < (1 << 16) ? 3 : 5;
}

static inline char *
put_array(char *p, Py_ssize_t n)
{
    if (n < 16) {
        *p++ = (char)(0x90 | n);
        return p;
    }
    if (n < (1 << 16)) {
        *p++ = (char)0xDC;
        *p++ = (char)(n >> 8);
        *p++ = (char)n;
        return p;
    }
    *p++ = (char)0xDD;
    for (int i = 3; i >= 0; i--)
        *p++ = (char)((unsigned long long)n >> (8 * i));
    return p;
}

/* The frame, or TWIN when the case is not the common one (nothing is set then), or NULL
   with an error (memory).  records: a list of bytes; removed: a list; records_size: NULL
   (absent or None) or an int. */
PyObject *
frame_of(unsigned long long num, unsigned long long base, unsigned long long tick,
         unsigned long long ack, double server_time, double time_scale, PyObject *records,
         PyObject *removed, long long max_frame, PyObject *records_size)
{
    if (snapshot_type == NULL || !PyList_CheckExact(records) || !PyList_CheckExact(removed))
        return TWIN;
    Py_ssize_t n = PyList_GET_SIZE(records), nrm = PyList_GET_SIZE(removed);
    if (n > max_entities || nrm > max_entities)
        return TWIN;  /* the twin's ValueError */
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = PyList_GET_ITEM(records, i);
        if (!PyBytes_CheckExact(rec))
            return TWIN;
        size += PyBytes_GET_SIZE(rec);
    }
    if (records_size != NULL) {
        if (!PyLong_CheckExact(records_size))
            return TWIN;
        int overflow;
        long long given = PyLong_AsLongLongAndOverflow(records_size, &overflow);
        if (given == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return TWIN;
        }
        if (overflow || given != size)
            return TWIN;  /* the twin's FrameTooLarge or ValueError */
    }
    Py_ssize_t tail = nrm ? array_len(nrm) : 1;
    for (Py_ssize_t i = 0; i < nrm; i++) {
        unsigned long long v;
        if (!as_uint(PyList_GET_ITEM(removed, i), &v))
            return TWIN;
        tail += uint_len(v);
    }
    Py_ssize_t head = 1 + PyBytes_GET_SIZE(snapshot_type) + uint_len(num) + uint_len(base)
                      + uint_len(tick) + uint_len(ack) + 18;
    long long body = (long long)head + array_len(n) + size + tail;
    if (body > max_frame || body >= (1LL << 32))
        return TWIN;  /* the twin's FrameTooLarge (or struct's error) */
    PyObject *out = PyBytes_FromStringAndSize(NULL, 4 + (Py_ssize_t)body);
    if (out == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(out);
    for (int i = 3; i >= 0; i--)
        *p++ = (char)(body >> (8 * i));
    *p++ = (char)0x99;
    memcpy(p, PyBytes_AS_STRING(snapshot_type), PyBytes_GET_SIZE(snapshot_type));
    p += PyBytes_GET_SIZE(snapshot_type);
    p = put_uint(p, num);
    p = put_uint(p, base);
    p = put_uint(p, tick);
    p = put_uint(p, ack);
    *p++ = (char)0xCB;
    PyFloat_Pack8(server_time, p, 0);  /* (big-endian: cannot fail for a double) */
    p += 8;
    *p++ = (char)0xCB;
    PyFloat_Pack8(time_scale, p, 0);
    p += 8;
    p = put_array(p, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = PyList_GET_ITEM(records, i);
        memcpy(p, PyBytes_AS_STRING(rec), PyBytes_GET_SIZE(rec));
        p += PyBytes_GET_SIZE(rec);
    }
    if (nrm) {
        p = put_array(p, nrm);
        for (Py_ssize_t i = 0; i < nrm; i++) {
            unsigned long long v = 0;
            as_uint(PyList_GET_ITEM(removed, i), &v);  /* (checked above: nothing ran since) */
            p = put_uint(p, v);
        }
    }
    else
        *p++ = (char)0x90;
    return out;
}

/* snapshot_frame(num, base, tick, input_ack, server_time, time_scale, records, removed,
   max_frame=DEFAULT_MAX_OUTBOUND, *, records_size=None) */
PyObject *
sp_snapshot_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (frame_twin == NULL) {
        PyErr_SetString(PyExc_TypeError, "snapshot_frame(): call setup_snapshot() first");
        return NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *records_size = NULL;
    if (nkw == 1 && (PyTuple_GET_ITEM(kwnames, 0) == str_records_size
                     || PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), str_records_size) == 0)) {
        records_size = args[nargs];
        if (records_size == Py_None)
            records_size = NULL;
    }
    else if (nkw != 0)
        goto twin;
    if (nargs != 8 && nargs != 9)
        goto twin;
    unsigned long long u[4];
    double times[2];
    long long max_frame;
    int overflow;
    for (int i = 0; i < 4; i++) {
        if (!as_uint(args[i], &u[i]))
            goto twin;
    }
    if (!as_double(args[4], &times[0]) || !as_double(args[5], &times[1]))
        goto twin;
    if (nargs == 8)
        max_frame = default_max;
    else {
        if (!PyLong_CheckExact(args[8]))
            goto twin;
        max_frame = PyLong_AsLongLongAndOverflow(args[8], &overflow);
        if (max_frame == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto twin;
        }
        if (overflow)
            goto twin;
    }
    PyObject *out = frame_of(u[0], u[1], u[2], u[3], times[0], times[1], args[6], args[7],
                             max_frame, records_size);
    if (out != TWIN)
        return out;
twin:
    return PyObject_Vectorcall(frame_twin, args, nargs, kwnames);
}

int
snapshot_init(PyObject *m)
{
    return INTERN(str_records_size, "records_size");
}
