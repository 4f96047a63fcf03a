/* Snapshot sync's per-viewer work, each with its twin (the reference, whose docstring is
 * the specification):
 *   interest_delta   what a viewer must be sent to see its view given what it holds
 *                    (sim._world.interest.interest_delta);
 *   grid_nearest     Grid.nearest_first, the ids of a view nearest first, the order a byte
 *                    budget keeps them in (Grid._nearest_first_py).
 *
 * A viewer's view and what it holds are sorted lists of ids (server/sync.py keeps them so):
 * one merge of the two, a lookup only in `changed` for the ids held and in `skip` for
 * those not.  Any other collections: one pass over `visible` with membership tests.  Only
 * public CPython APIs: the iterator protocol (so the order is Python's own),
 * PySet_Contains / PyDict_Contains / PySequence_Contains for membership, dict get and set
 * for the shared records, PyObject_CallOneArg for a missing record.
 */

#include "grid.h"

/* `o` contains `key`: 1, 0, or -1 with an error; sets and dicts without a lookup of their
   type's __contains__. */
static inline int
has(PyObject *o, PyObject *key)
{
    if (PyAnySet_Check(o))
        return PySet_Contains(o, key);
    if (PyDict_Check(o))
        return PyDict_Contains(o, key);
    return PySequence_Contains(o, key);
}

/* The record of `eid` in `map`, made by `make` and stored there if missing: a new
   reference, or NULL with an error (nothing stored). */
static PyObject *
record(PyObject *map, PyObject *make, PyObject *eid)
{
    PyObject *rec = PyDict_GetItemWithError(map, eid);
    if (rec != NULL)
        return Py_NewRef(rec);
    if (PyErr_Occurred())
        return NULL;
    rec = PyObject_CallOneArg(make, eid);
    if (rec == NULL)
        return NULL;
    if (!PyBytes_CheckExact(rec)) {
        PyErr_Format(PyExc_TypeError, "a record maker returned %.100s for id %R, not bytes",
                     Py_TYPE(rec)->tp_name, eid);
        Py_DECREF(rec);
        return NULL;
    }
    if (PyDict_SetItem(map, eid, rec) < 0) {
        Py_DECREF(rec);
        return NULL;
    }
    return rec;
}

/* Append eid and rec (a new reference, consumed) to their lists. */
static int
add(PyObject *ids, PyObject *recs, PyObject *eid, PyObject *rec, Py_ssize_t *size)
{
    *size += PyBytes_GET_SIZE(rec);
    int err = PyList_Append(ids, eid) < 0 || PyList_Append(recs, rec) < 0;
    Py_DECREF(rec);
    return err ? -1 : 0;
}

static int
join(PyObject *front, PyObject *back)
{
    /* front[len(front):] = back */
    Py_ssize_t n = PyList_GET_SIZE(front);
    return PyList_SetSlice(front, n, n, back);
}

/* The records of one viewer's delta, as they are found: the entered, then the changed. */
typedef struct {
    PyObject *in_ids, *in_recs, *ch_ids, *ch_recs, *gone;
    Py_ssize_t size;
} Delta;

/* eid is in the view: held (then a delta record if it changed; `is_changed`: whether it
   did, or -1: look it up) or not (a full record unless skipped; `fresh`: the viewer holds
   nothing, skip does not apply).  0 or -1. */
static int
see_one(Delta *d, PyObject *eid, int is_held, int is_changed, int fresh,
        PyObject *const *args)
{
    PyObject *skip = args[2], *changed = args[3], *full = args[4], *deltas = args[5];
    PyObject *make_full = args[6], *make_delta = args[7];
    int r;
    if (is_held) {
        if ((r = is_changed >= 0 ? is_changed : has(changed, eid)) <= 0)
            return r;
        PyObject *rec = record(deltas, make_delta, eid);
        return rec == NULL ? -1 : add(d->ch_ids, d->ch_recs, eid, rec, &d->size);
    }
    if (!fresh && (r = has(skip, eid)) != 0)
        return r < 0 ? -1 : 0;
    PyObject *rec = record(full, make_full, eid);
    return rec == NULL ? -1 : add(d->in_ids, d->in_recs, eid, rec, &d->size);
}

/* Any collections: visible iterated, membership in held, then held iterated for what is
   gone, membership in visible. */
static int
delta_any(Delta *d, PyObject *const *args)
{
    PyObject *visible = args[0], *held = args[1], *eid;
    int fresh = held == Py_None;
    PyObject *it = PyObject_GetIter(visible);
    if (it == NULL)
        return -1;
    while ((eid = PyIter_Next(it)) != NULL) {
        int r = fresh ? 0 : has(held, eid);
        if (r < 0 || see_one(d, eid, r, -1, fresh, args) < 0) {
            Py_DECREF(eid);
            Py_DECREF(it);
            return -1;
        }
        Py_DECREF(eid);
    }
    Py_DECREF(it);
    if (PyErr_Occurred() || fresh || (it = PyObject_GetIter(held)) == NULL)
        return PyErr_Occurred() ? -1 : 0;
    while ((eid = PyIter_Next(it)) != NULL) {
        int r = has(visible, eid);
        if (r < 0 || (!r && PyList_Append(d->gone, eid) < 0)) {
            Py_DECREF(eid);
            Py_DECREF(it);
            return -1;
        }
        Py_DECREF(eid);
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* `changed` as a strictly ascending buffer of 64-bit ints (an array('q')): 1 (ch->buf
   held: PyBuffer_Release it), 0 (it is not: no buffer held), -1. */
typedef struct {
    Py_buffer buf;
    const long long *v;
    Py_ssize_t n;
} Ids64;

static int
ids64(PyObject *o, Ids64 *ch)
{
    if (!PyObject_CheckBuffer(o) || PyBytes_Check(o) || PyByteArray_Check(o))
        return 0;
    if (PyObject_GetBuffer(o, &ch->buf, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();  /* not a buffer of that kind: looked up instead */
        return 0;
    }
    const char *f = ch->buf.format;
    int ok = ch->buf.ndim == 1 && ch->buf.itemsize == 8 && f != NULL
             && (strcmp(f, "q") == 0 || strcmp(f, "@q") == 0 || strcmp(f, "=q") == 0);
    ch->v = ch->buf.buf;
    ch->n = ok ? ch->buf.len / 8 : 0;
    for (Py_ssize_t i = 1; ok && i < ch->n; i++)
        ok = ch->v[i - 1] < ch->v[i];
    if (!ok)
        PyBuffer_Release(&ch->buf);
    return ok;
}

/* A new reference to list[i], or NULL with RuntimeError when the list is no longer n long
   (a maker changed it: makers must not). */
static PyObject *
item(PyObject *list, Py_ssize_t i, Py_ssize_t n)
{
    if (PyList_GET_SIZE(list) != n) {
        PyErr_SetString(PyExc_RuntimeError, "interest_delta(): a list changed while merged");
        return NULL;
    }
    return Py_NewRef(PyList_GET_ITEM(list, i));
}

/* Append list[i] to out (see item()): 0 or -1. */
static int
append_item(PyObject *out, PyObject *list, Py_ssize_t i, Py_ssize_t n)
{
    PyObject *o = item(list, i, n);
    int rc = o == NULL ? -1 : PyList_Append(out, o);
    Py_XDECREF(o);
    return rc;
}

/* visible and held (or None) strictly ascending lists of ints, their ids in vis and hd:
   one merge, no lookup (in `changed` neither, when ch is not NULL: merged too).  Each
   item is held while in use; a list that changes length meanwhile is a RuntimeError (a
   maker may run any code; a buffer held cannot be resized). */
static int
delta_merge(Delta *d, PyObject *const *args, const IdList *vis, const IdList *hd,
            const Ids64 *ch)
{
    PyObject *visible = args[0], *held = args[1];
    Py_ssize_t j = 0, m = held == Py_None ? 0 : hd->n, k = 0;
    for (Py_ssize_t i = 0; i < vis->n; i++) {
        long long v = vis->v[i];
        for (; j < m && hd->v[j] < v; j++) {
            if (append_item(d->gone, held, j, m) < 0)
                return -1;
        }
        int is_held = j < m && hd->v[j] == v, is_changed = -1;
        j += is_held;
        if (is_held && ch != NULL) {
            while (k < ch->n && ch->v[k] < v)
                k++;
            if (!(is_changed = k < ch->n && ch->v[k] == v))
                continue;  /* held and unchanged (most of a view): its object not touched */
        }
        PyObject *eid = item(visible, i, vis->n);
        int rc = eid == NULL ? -1 : see_one(d, eid, is_held, is_changed, held == Py_None, args);
        Py_XDECREF(eid);
        if (rc < 0)
            return -1;
    }
    for (; j < m; j++) {
        if (append_item(d->gone, held, j, m) < 0)
            return -1;
    }
    return 0;
}

PyObject *
sp_interest_delta(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "interest_delta() takes 8 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyDict_Check(args[4]) || !PyDict_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "interest_delta(): full and deltas must be dicts");
        return NULL;
    }
    Delta d = {PyList_New(0), PyList_New(0), PyList_New(0), PyList_New(0), PyList_New(0), 0};
    PyObject *out = NULL;
    IdList vis, hd;
    vis.v = vis.small;
    hd.v = hd.small;
    int sorted = -1;
    if (d.in_ids == NULL || d.in_recs == NULL || d.ch_ids == NULL || d.ch_recs == NULL
        || d.gone == NULL)
        goto done;
    sorted = sorted_ids(args[0], &vis);
    if (sorted > 0 && args[1] != Py_None && args[1] != args[0])
        sorted = sorted_ids(args[1], &hd);
    if (sorted > 0) {
        const IdList *held_ids = args[1] == args[0] ? &vis : &hd;  /* (a view unchanged) */
        Ids64 ch;
        int merged = args[1] != Py_None ? ids64(args[3], &ch) : 0;
        int rc = delta_merge(&d, args, &vis, held_ids, merged ? &ch : NULL);
        if (merged)
            PyBuffer_Release(&ch.buf);
        if (rc < 0)
            goto done;
    }
    else if (sorted < 0 || delta_any(&d, args) < 0)
        goto done;
    Py_ssize_t entered = PyList_GET_SIZE(d.in_ids);
    if (join(d.in_ids, d.ch_ids) < 0 || join(d.in_recs, d.ch_recs) < 0)
        goto done;
    out = Py_BuildValue("(OOnnO)", d.in_ids, d.in_recs, entered, d.size, d.gone);
done:
    idlist_free(&vis);
    idlist_free(&hd);
    Py_XDECREF(d.in_ids);
    Py_XDECREF(d.in_recs);
    Py_XDECREF(d.ch_ids);
    Py_XDECREF(d.ch_recs);
    Py_XDECREF(d.gone);
    return out;
}

/* ------------------------------------------------------------------ grid_nearest */

static PyObject *str_nx, *str_w, *str_h, *str_recs;

typedef struct {
    double d2;
    long long id;
    PyObject *idobj;  /* borrowed from the ids list, which the caller holds */
} Near;

static int
near_cmp(const void *a, const void *b)
{
    const Near *p = a, *q = b;
    if (p->d2 != q->d2)
        return p->d2 < q->d2 ? -1 : 1;
    return (p->id > q->id) - (p->id < q->id);
}

/* Fill v with each id's squared distance, Grid.distance2's arithmetic in its order (built
   with -ffp-contract=off: the same bits).  1: done; 0: the twin's business (an id that is
   not an int in a long long, or not in the grid, a record without float positions in
   slots, a distance that is not finite); -1: an error. */
static int
distances(PyObject *grid, double x, double y, PyObject *ids, Near *v)
{
    long long nx;
    double w = 0, h = 0;
    int ok;
    if ((ok = attr_ll(grid, str_nx, &nx)) <= 0
        || (nx && ((ok = attr_double(grid, str_w, &w)) <= 0
                   || (ok = attr_double(grid, str_h, &h)) <= 0)))
        return ok;
    int wrap = nx != 0;
    PyObject *recs = inst_attr(grid, str_recs);
    if (recs == NULL)
        return -1;
    int rc = 0;
    if (!PyDict_CheckExact(recs))
        goto done;
    Py_ssize_t n = PyList_GET_SIZE(ids);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *eid = PyList_GET_ITEM(ids, i);
        if (!PyLong_CheckExact(eid))
            goto done;
        int overflow;
        long long id = PyLong_AsLongLongAndOverflow(eid, &overflow);
        if (overflow)
            goto done;
        PyObject *rec = PyDict_GetItemWithError(recs, eid);
        if (rec == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;  /* missing: the twin raises KeyError */
            goto done;
        }
        Py_ssize_t xo, yo;
        if ((rc = xy_of(Py_TYPE(rec), &xo, &yo)) <= 0)
            goto done;
        rc = 0;
        PyObject *rx = SLOT(rec, xo), *ry = SLOT(rec, yo);
        if (rx == NULL || ry == NULL || !PyFloat_CheckExact(rx) || !PyFloat_CheckExact(ry))
            goto done;
        double dx = fabs(PyFloat_AS_DOUBLE(rx) - x), dy = fabs(PyFloat_AS_DOUBLE(ry) - y);
        if (wrap) {
            dx = pymod(dx, w);
            dy = pymod(dy, h);
            if (dx > w * 0.5)
                dx = w - dx;
            if (dy > h * 0.5)
                dy = h - dy;
        }
        double d2 = dx * dx + dy * dy;
        if (!isfinite(d2))
            goto done;
        v[i].d2 = d2;
        v[i].id = id;
        v[i].idobj = eid;
    }
    rc = 1;
done:
    Py_DECREF(recs);
    return rc;
}

/* Grid.nearest_first(grid, x, y, ids) in C when grid is a Grid, x and y floats, ids a
   list (see distances() for the rest); otherwise the twin does it all. */
static PyObject *
nearest(PyObject *const *a)
{
    PyObject *grid = a[0], *xo = a[1], *yo = a[2], *ids = a[3];
    if (Py_TYPE(grid) != Grid_T || !PyFloat_CheckExact(xo) || !PyFloat_CheckExact(yo)
        || !PyList_CheckExact(ids))
        return PyObject_Vectorcall(grid_nearest_py, a, 4, NULL);
    Py_ssize_t n = PyList_GET_SIZE(ids);
    Near *v = PyMem_Malloc((n ? n : 1) * sizeof(Near));
    if (v == NULL)
        return PyErr_NoMemory();
    Py_INCREF(ids);  /* its items are borrowed in v; nothing below runs Python code */
    PyObject *out = NULL;
    int rc = distances(grid, PyFloat_AS_DOUBLE(xo), PyFloat_AS_DOUBLE(yo), ids, v);
    if (rc > 0) {
        qsort(v, (size_t)n, sizeof(Near), near_cmp);
        if ((out = PyList_New(n)) != NULL) {
            for (Py_ssize_t i = 0; i < n; i++)
                PyList_SET_ITEM(out, i, Py_NewRef(v[i].idobj));
        }
    }
    PyMem_Free(v);
    if (rc == 0)
        out = PyObject_Vectorcall(grid_nearest_py, a, 4, NULL);
    Py_DECREF(ids);
    return out;
}

PyObject *
sp_grid_nearest(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (grid_nearest_py == NULL) {
        PyErr_SetString(PyExc_TypeError, "grid_nearest(): call setup_grid() first");
        return NULL;
    }
    if (kwnames != NULL || nargs != 4)  /* keywords, a wrong count: the twin says so */
        return PyObject_Vectorcall(grid_nearest_py, args, nargs, kwnames);
    return nearest(args);
}

PyObject *
m_grid_nearest(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return with_self(self, args, nargs, kwnames, sp_grid_nearest);
}

int
interest_init(PyObject *m)
{
    return INTERN(str_nx, "_nx") < 0 || INTERN(str_w, "_w") < 0 || INTERN(str_h, "_h") < 0
           || INTERN(str_recs, "_recs") < 0 ? -1 : 0;
}
