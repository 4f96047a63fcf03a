/* interest_delta: the per-viewer part of snapshot sync, what a viewer must be sent to see
 * its view given what it holds (the twin, and the reference, is
 * sim._world.interest.interest_delta; its docstring is the specification).
 *
 * One pass over `visible` with membership tests, instead of the three sets (kept, entered,
 * changed) and the two lookups by set a Python version makes per viewer.  Only public
 * CPython APIs: the iterator protocol for `visible` (so the order is Python's own),
 * PySet_Contains / PyDict_Contains / PySequence_Contains for membership, dict get and set
 * for the shared records, PyObject_CallOneArg for a missing record.
 */

#include "common.h"

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

PyObject *
sp_interest_delta(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "interest_delta() takes 8 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *visible = args[0], *held = args[1], *skip = args[2], *changed = args[3];
    PyObject *full = args[4], *deltas = args[5], *make_full = args[6], *make_delta = args[7];
    if (!PyDict_Check(full) || !PyDict_Check(deltas)) {
        PyErr_SetString(PyExc_TypeError, "interest_delta(): full and deltas must be dicts");
        return NULL;
    }
    int fresh = held == Py_None;
    PyObject *in_ids = PyList_New(0), *in_recs = PyList_New(0);
    PyObject *ch_ids = PyList_New(0), *ch_recs = PyList_New(0);
    PyObject *it = NULL, *eid = NULL, *out = NULL;
    Py_ssize_t size = 0;
    if (in_ids == NULL || in_recs == NULL || ch_ids == NULL || ch_recs == NULL)
        goto done;
    it = PyObject_GetIter(visible);
    if (it == NULL)
        goto done;
    while ((eid = PyIter_Next(it)) != NULL) {
        int r = fresh ? 0 : has(held, eid);
        if (r < 0)
            goto done;
        if (r) {
            r = has(changed, eid);
            if (r < 0)
                goto done;
            if (r) {
                PyObject *rec = record(deltas, make_delta, eid);
                if (rec == NULL || add(ch_ids, ch_recs, eid, rec, &size) < 0)
                    goto done;
            }
        }
        else {
            r = fresh ? 0 : has(skip, eid);
            if (r < 0)
                goto done;
            if (!r) {
                PyObject *rec = record(full, make_full, eid);
                if (rec == NULL || add(in_ids, in_recs, eid, rec, &size) < 0)
                    goto done;
            }
        }
        Py_CLEAR(eid);
    }
    if (PyErr_Occurred())
        goto done;
    Py_ssize_t entered = PyList_GET_SIZE(in_ids);
    if (join(in_ids, ch_ids) < 0 || join(in_recs, ch_recs) < 0)
        goto done;
    out = Py_BuildValue("(OOnn)", in_ids, in_recs, entered, size);
done:
    Py_XDECREF(eid);
    Py_XDECREF(it);
    Py_XDECREF(in_ids);
    Py_XDECREF(in_recs);
    Py_XDECREF(ch_ids);
    Py_XDECREF(ch_recs);
    return out;
}
