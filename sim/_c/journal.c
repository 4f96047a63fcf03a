/* A durable tasklet's journal recording a channel call: Journal.send and Journal.recv in C.
 * The twins are Journal._send_py and Journal._recv_py (sim/_kernel/journal.py): this is
 * their recording path, step for step, leaving the same pending call while the channel
 * call runs and appending the same entry after it, made of the same objects (the kind is
 * the interned "send" / "recv", the channel's index the int the index holds), so that a
 * pickle of the journal is byte for byte the twin's.  Everything else goes to the twins
 * before anything has changed: a replay (cursor set), a sent value that is not plain, an
 * interrupt deferred (pending_irq), an unusual object in a slot.
 *
 * channel.c hands a durable tasklet's sim.stackless channel calls straight to
 * journal_call(), with the channel's own C send or receive as the call: then no Python
 * frame runs at all.  kchannel.c (sim.Channel) runs its own send or receive between
 * journal_may_record() and journal_end(), and calls journal_begin() only where the call
 * blocks (or hands over to its twin): a call that completes at once needs no pending
 * tuple, since nothing can look at it meanwhile.
 */
#include "kernel.h"

static int journal_ready = 0;
static PyTypeObject *Journal_T;
static PyObject *send_py, *recv_py, *freeze_py;  /* the twins, and journal.freeze */
static PyObject *str_send, *str_recv, *str_done, *str_ix;
static Py_ssize_t j_tasklet, j_entries, j_index, j_pending, j_cursor;
static Py_ssize_t jt_sched, jt_journal;  /* Tasklet's _sched and _journal */


/* type(v) in journal._PLAIN: logged as itself. */
static inline int
is_plain(PyObject *v)
{
    PyTypeObject *tp = Py_TYPE(v);
    return tp == &PyLong_Type || tp == &PyUnicode_Type || v == Py_None || tp == &PyFloat_Type
           || tp == &PyBool_Type || tp == &PyBytes_Type || tp == &PyComplex_Type;
}

/* The call op(chan, value) failed: j._done(kind, chan, fp, False, e), as the twin's
   `except BaseException as e: self._done(...); raise` (what _done raised instead, if it
   did, with e as its context).  Always NULL. */
static __attribute__((noinline)) PyObject *
failed(PyObject *j, PyObject *kind, PyObject *chan, PyObject *fp)
{
    PyObject *args[6] = {j, kind, chan, fp, Py_False, NULL};
    return undo_then_raise(str_done, args, 5);
}

/* After op returned r: the tasklet's gate opens again, nothing is pending, and the entry
   goes in (kind, index, fp, True, outcome).  outcome: None for a send, r (plain) or
   freeze(r) for a receive.  Returns 0, or -1 with an exception (the entry not logged, as
   in the twin when freeze or the index fails). */
static int
log_entry(PyObject *j, PyObject *t, PyObject *kind, PyObject *chan, PyObject *fp,
          PyObject *r)
{
    put_borrowed(t, jt_journal, j);
    put_borrowed(j, j_pending, Py_None);
    PyObject *index = SLOT(j, j_index), *c;
    if (index != NULL && PyDict_CheckExact(index)) {
        c = PyDict_GetItemWithError(index, chan);
        if (c == NULL && PyErr_Occurred())
            return -1;
        Py_XINCREF(c);
    }
    else
        c = NULL;
    if (c == NULL && (c = PyObject_CallMethodOneArg(j, str_ix, chan)) == NULL)
        return -1;
    PyObject *outcome;
    if (r == NULL)
        outcome = Py_NewRef(Py_None);
    else if (is_plain(r))
        outcome = Py_NewRef(r);
    else if ((outcome = PyObject_CallOneArg(freeze_py, r)) == NULL) {
        Py_DECREF(c);
        return -1;
    }
    PyObject *entry = PyTuple_New(5);
    if (entry == NULL) {
        Py_DECREF(c);
        Py_DECREF(outcome);
        return -1;
    }
    PyTuple_SET_ITEM(entry, 0, Py_NewRef(kind));
    PyTuple_SET_ITEM(entry, 1, c);
    PyTuple_SET_ITEM(entry, 2, Py_NewRef(fp));
    PyTuple_SET_ITEM(entry, 3, Py_NewRef(Py_True));
    PyTuple_SET_ITEM(entry, 4, outcome);
    if (is_plain(fp) && is_plain(outcome))
        /* Nothing in it the collector visits: it would untrack the tuple at its first
           collection (as it does the twin's); untracked now, a growing journal costs the
           collections nothing. */
        PyObject_GC_UnTrack(entry);
    PyObject *entries = SLOT(j, j_entries);
    int ok;
    if (entries != NULL && PyList_CheckExact(entries))
        ok = PyList_Append(entries, entry);
    else {
        PyObject *x = entries == NULL ? NULL : PyObject_CallMethod(entries, "append", "O", entry);
        if (entries == NULL)
            PyErr_SetString(PyExc_AttributeError, "the journal has no entries");
        ok = x == NULL ? -1 : 0;
        Py_XDECREF(x);
    }
    Py_DECREF(entry);
    return ok;
}

/* The recording path applies to j's call (value: the value sent, NULL for a receive):
   returns j's tasklet (borrowed), or NULL for the twin's turn (nothing changed). */
PyObject *
journal_may_record(PyObject *j, PyObject *value)
{
    if (!journal_ready || !Py_IS_TYPE(j, Journal_T) || SLOT(j, j_cursor) != Py_None
        || (value != NULL && !is_plain(value)))
        return NULL;
    PyObject *t = SLOT(j, j_tasklet);
    if (t == NULL || !of_type(t, Tasklet_T, &tasklet_seen))
        return NULL;
    PyObject *sched = SLOT(t, jt_sched);
    if (sched == NULL || !Py_IS_TYPE(sched, Sched_T) || SLOT(sched, s_pending_irq) != Py_False)
        return NULL;  /* (an interrupt was deferred: the twin yields first) */
    return t;
}

/* Before the call runs anything that can see it (a switch, Python code): j's pending call
   is (kind, chan, fp) and t's gate is shut.  The caller holds j (t lets go of it). */
int
journal_begin(PyObject *j, PyObject *t, PyObject *chan, PyObject *value)
{
    PyObject *pending = PyTuple_Pack(3, value ? str_send : str_recv, chan,
                                     value ? value : Py_None);
    if (pending == NULL)
        return -1;
    put(j, j_pending, pending);
    put_borrowed(t, jt_journal, Py_None);  /* the gate is shut while the call runs */
    return 0;
}

/* After the call, which returned r (NULL: it raised): the gate open again, nothing pending
   and the entry logged (or _done with the exception, which propagates).  Takes r; returns
   None for a send, r for a receive, or NULL.  Without journal_begin before it (a call that
   neither switched nor ran Python code), nobody could have seen the difference. */
PyObject *
journal_end(PyObject *j, PyObject *t, PyObject *chan, PyObject *value, PyObject *r)
{
    PyObject *kind = value != NULL ? str_send : str_recv, *fp = value ? value : Py_None;
    if (r == NULL)
        return failed(j, kind, chan, fp);
    if (log_entry(j, t, kind, chan, fp, value ? NULL : r) < 0)
        Py_CLEAR(r);
    else if (value != NULL)
        Py_SETREF(r, Py_NewRef(Py_None));
    return r;
}

/* The recording path, for t = journal_may_record(j, value): body runs the call and begins
   it where it switches; where it declines (or without a body) op(chan, value), or op(chan)
   for a receive, runs it with the gate shut. */
static PyObject *
record(PyObject *j, PyObject *t, channel_body body, PyObject *op, PyObject *chan,
       PyObject *sched, PyObject *cur, long balance, PyObject *value, long d)
{
    /* held while the call runs: the tasklet's _journal lets go of j meanwhile */
    Py_INCREF(j);
    Py_INCREF(t);
    Py_INCREF(chan);
    Py_XINCREF(value);
    PyObject *r = body != NULL ? body(chan, sched, cur, balance, value, d, j, t) : TWIN;
    if (r == TWIN) {
        if (journal_begin(j, t, chan, value) < 0)
            r = NULL;
        else {
            PyObject *args[3] = {NULL, chan, value};
            r = PyObject_Vectorcall(op, args + 1,
                                    (value ? 2 : 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            r = journal_end(j, t, chan, value, r);
        }
    }
    else
        r = journal_end(j, t, chan, value, r);
    Py_XDECREF(value);
    Py_DECREF(chan);
    Py_DECREF(t);
    Py_DECREF(j);
    return r;
}

/* op(chan, value) (op(chan) for a receive, value NULL) for j's tasklet, recorded; or
   TWIN, before anything has changed. */
static PyObject *
journal_record(PyObject *j, PyObject *chan, PyObject *value, PyObject *op)
{
    PyObject *t = journal_may_record(j, value);
    if (t == NULL)
        return TWIN;
    return record(j, t, NULL, op, chan, NULL, NULL, 0, value, value ? 1 : -1);
}

/* Journal.send(chan, value, op) */
PyObject *
m_journal_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs == 3 && kwnames == NULL) {
        PyObject *r = journal_record(self, args[0], args[1], args[2]);
        if (r != TWIN)
            return r;
    }
    return call_with_self(self, args, nargs, kwnames, NULL, send_py);
}

/* Journal.recv(chan, op) */
PyObject *
m_journal_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs == 2 && kwnames == NULL) {
        PyObject *r = journal_record(self, args[0], NULL, args[1]);
        if (r != TWIN)
            return r;
    }
    return call_with_self(self, args, nargs, kwnames, NULL, recv_py);
}

/* A durable tasklet's send (value) or receive (value NULL) on chan through its journal j,
   op the channel's own send or receive: the recording path, or Journal.send / .recv. */
PyObject *
journal_call(PyObject *j, PyObject *chan, PyObject *value, PyObject *op)
{
    PyObject *r = journal_record(j, chan, value, op);
    if (r != TWIN)
        return r;
    PyObject *args[4] = {j, chan, value ? value : op, op};
    return PyObject_VectorcallMethod(value ? str_send : str_recv, args,
                                     (value ? 4 : 3) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* A durable tasklet's send or receive on chan, a channel whose C body is body (twin its
   Python twin, cls.name the method the twins pass as the call): the body runs between
   the journal's checks and its entry, and begins the call itself where it switches;
   where the body declines, the twin does the call with the gate shut; what the recording
   path does not do goes to journal_call(j, chan, value, cls.name). */
PyObject *
journal_channel_call(PyObject *j, channel_body body, PyObject *twin, PyObject *cls,
                     PyObject *name, PyObject *chan, PyObject *sched, PyObject *cur,
                     long balance, PyObject *value, long d)
{
    PyObject *t = journal_may_record(j, value);
    if (t != NULL)
        return record(j, t, body, twin, chan, sched, cur, balance, value, d);
    Py_INCREF(j);  /* held while the call runs: the tasklet's _journal lets go of it */
    PyObject *op = PyObject_GetAttr(cls, name);
    PyObject *r = op == NULL ? NULL : journal_call(j, chan, value, op);
    Py_XDECREF(op);
    Py_DECREF(j);
    return r;
}

#define NEED "a journal (after setup_journal)"

/* The module's functions: journal_send(journal, chan, value, op), journal_recv(journal,
   chan, op). */

PyObject *
sp_journal_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return as_function(journal_ready, Journal_T, NEED, args, nargs, kwnames, m_journal_send);
}

PyObject *
sp_journal_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return as_function(journal_ready, Journal_T, NEED, args, nargs, kwnames, m_journal_recv);
}

/* -------------------------------------------------------------------------- setup */

/* setup_journal(Journal, freeze): after setup(), which gives the kernel's types. */
PyObject *
sp_setup_journal(PyObject *self, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *freeze;
    if (!PyArg_ParseTuple(args, "O!O:setup_journal", &PyType_Type, &cls, &freeze))
        return NULL;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "setup_journal(): call setup() first");
        return NULL;
    }
    static const char *const names[] = {"tasklet", "entries", "index", "pending", "cursor"};
    Py_ssize_t off[5];
    int ok = slots_of(cls, names, 5, off);
    if (ok == 0)
        PyErr_SetString(PyExc_TypeError, "setup_journal(): the journal's state is no slots");
    if (ok <= 0 || (jt_sched = slot_offset(Tasklet_T, "_sched")) < 0
        || (jt_journal = slot_offset(Tasklet_T, "_journal")) < 0)
        return NULL;
    if (!PyCallable_Check(freeze)) {
        PyErr_SetString(PyExc_TypeError, "setup_journal(): freeze must be callable");
        return NULL;
    }
    if (twins_of(cls, "_send_py", "_recv_py", &send_py, &recv_py) < 0)
        return NULL;
    Py_XSETREF(freeze_py, Py_NewRef(freeze));
    Py_XSETREF(Journal_T, (PyTypeObject *)Py_NewRef(cls));
    j_tasklet = off[0], j_entries = off[1], j_index = off[2], j_pending = off[3];
    j_cursor = off[4];
    journal_ready = 1;
    Py_RETURN_NONE;
}

int
journal_init(PyObject *m)
{
    return INTERN(str_send, "send") < 0 || INTERN(str_recv, "recv") < 0
           || INTERN(str_done, "_done") < 0 || INTERN(str_ix, "_ix") < 0 ? -1 : 0;
}
