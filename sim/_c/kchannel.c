/* sim.Channel's send and recv in C (the kernel's channel, sim/_kernel/channel.py).  The twins
 * are Channel._send_py and Channel._recv_py: this is their common case, step for step, on
 * the door's C primitives (do_ready, do_block); everything else goes to them before
 * anything has changed: a closed channel, a refusal to block (block_trap, switch_trap), an
 * unusual object in a slot.  A durable tasklet's call goes to its journal (journal.c), with
 * this same C send or receive as the call, so that recording runs no Python frame either.
 */
#include "kernel.h"

static int kchannel_ready = 0;
static PyTypeObject *KChannel_T;
static PyObject *send_py, *recv_py;  /* the twins */
static PyObject *str_send, *str_recv;
static PyObject *one, *minus_one;
static Py_ssize_t k_capacity, k_buf, k_waiters, k_balance, k_closed, k_sched;
static Py_ssize_t kt_block_trap, kt_journal, ks_trap;


/* The state both directions read first.  1: the common case may go on, with *sched, *cur
   and *balance (borrowed: the channel holds its scheduler, the scheduler its current);
   2: the same, for a durable tasklet (its journal's turn); 0: the twin's turn. */
static inline int
enter(PyObject *chan, PyObject **sched, PyObject **cur, long *balance)
{
    PyObject *s = SLOT(chan, k_sched), *bal = SLOT(chan, k_balance);
    if (s == NULL || !Py_IS_TYPE(s, Sched_T) || bal == NULL || !PyLong_CheckExact(bal))
        return 0;
    PyObject *c = SLOT(s, s_current);
    if (c == NULL || !of_type(c, Tasklet_T, &tasklet_seen) || SLOT(c, kt_journal) == NULL)
        return 0;
    *balance = PyLong_AsLong(bal);
    if (*balance == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *sched = s;
    *cur = c;
    return SLOT(c, kt_journal) != Py_None ? 2 : 1;
}

/* The blocked tasklet at the head of the FIFO, before taking it (borrowed; NULL: the
   twin's turn). */
static inline PyObject *
head(PyObject *waiters)
{
    if (waiters == NULL || !Py_IS_TYPE(waiters, Deque_T))
        return NULL;
    PyObject *w = PySequence_GetItem(waiters, 0);
    if (w == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(w);  /* the FIFO holds it */
    if (!of_type(w, Tasklet_T, &tasklet_seen) || SLOT(w, t_tempval) == NULL)
        return NULL;
    return w;
}

/* Take the head of the FIFO (a new reference) and add d to the balance. */
static inline PyObject *
take(PyObject *chan, long balance, long d)
{
    PyObject *w = deque_popleft(SLOT(chan, k_waiters), NULL);
    if (w != NULL && put(chan, k_balance, PyLong_FromLong(balance + d)) < 0)
        Py_CLEAR(w);
    return w;
}

/* cur can block: no block_trap, no switch_trap, the FIFO a deque (else the twin raises). */
static inline int
may_block(PyObject *chan, PyObject *sched, PyObject *cur)
{
    PyObject *waiters = SLOT(chan, k_waiters);
    return SLOT(cur, kt_block_trap) == Py_False && SLOT(sched, ks_trap) == zero
           && waiters != NULL && Py_IS_TYPE(waiters, Deque_T);
}

/* cur joins the FIFO in direction d (its tempval v, a new reference) and blocks; returns
   what block returns. */
static inline __attribute__((always_inline)) PyObject *
wait(PyObject *chan, PyObject *sched, PyObject *cur, long balance, long d, PyObject *v)
{
    PyObject *r = deque_append(SLOT(chan, k_waiters), cur);
    if (r == NULL) {
        Py_DECREF(v);
        return NULL;
    }
    Py_DECREF(r);
    if (put(chan, k_balance, PyLong_FromLong(balance + d)) < 0) {
        Py_DECREF(v);
        return NULL;  /* (cur stays queued, as if the twin had failed there) */
    }
    PyObject *old = SLOT(cur, t_tempval);
    SLOT(cur, t_tempval) = v;
    Py_XDECREF(old);
    return do_block(sched, cur, chan, d > 0 ? one : minus_one, NULL);
}

/* _send_py's common case (a new reference to None), or TWIN.  j, t: a durable tasklet's
   journal and the tasklet (else NULL), which begins its call where the call blocks.
   (send, recv and wait are inlined into their callers: a call frame more would be on the
   stack greenlet copies at every switch.) */
static inline __attribute__((always_inline)) PyObject *
send(PyObject *chan, PyObject *sched, PyObject *cur, long balance, PyObject *value,
     PyObject *j, PyObject *t)
{
    if (balance < 0) {  /* a receiver waits: hand over, it runs later, we go on */
        if (head(SLOT(chan, k_waiters)) == NULL)
            return TWIN;
        PyObject *w = take(chan, balance, 1);
        if (w == NULL)
            return NULL;
        PyObject *old = SLOT(w, t_tempval);
        SLOT(w, t_tempval) = Py_NewRef(value);
        Py_XDECREF(old);
        PyObject *r = do_ready(sched, w);
        Py_DECREF(w);
        return r;
    }
    PyObject *buf = SLOT(chan, k_buf), *cap = SLOT(chan, k_capacity);
    if (SLOT(chan, k_closed) != Py_False || buf == NULL || !Py_IS_TYPE(buf, Deque_T)
        || cap == NULL || !PyLong_CheckExact(cap))
        return TWIN;  /* (closed: the twin raises) */
    Py_ssize_t len = PyObject_Size(buf), capacity = PyLong_AsSsize_t(cap);
    if (len < 0 || (capacity == -1 && PyErr_Occurred()))
        return NULL;
    if (len < capacity)
        return deque_append(buf, value);
    if (!may_block(chan, sched, cur))
        return TWIN;
    if (j != NULL && journal_begin(j, t, chan, value) < 0)
        return NULL;
    PyObject *r = wait(chan, sched, cur, balance, 1, Py_NewRef(value));
    if (r != NULL)
        Py_SETREF(r, Py_NewRef(Py_None));
    return r;
}

/* _recv_py's common case (the value, a new reference), or TWIN.  j, t: as for send. */
static inline __attribute__((always_inline)) PyObject *
recv(PyObject *chan, PyObject *sched, PyObject *cur, long balance, PyObject *j, PyObject *t)
{
    PyObject *buf = SLOT(chan, k_buf);
    if (buf == NULL || !Py_IS_TYPE(buf, Deque_T))
        return TWIN;
    Py_ssize_t len = PyObject_Size(buf);
    if (len < 0)
        return NULL;
    if (len > 0 || balance > 0) {
        if (balance > 0 && head(SLOT(chan, k_waiters)) == NULL)
            return TWIN;
        PyObject *value = len > 0 ? deque_popleft(buf, NULL) : NULL;
        if (len > 0 && value == NULL)
            return NULL;
        if (balance <= 0)
            return value;
        PyObject *w = take(chan, balance, -1);  /* a blocked sender */
        if (w == NULL) {
            Py_XDECREF(value);
            return NULL;
        }
        PyObject *v = SLOT(w, t_tempval);  /* its value: into the buffer, or ours */
        SLOT(w, t_tempval) = Py_NewRef(Py_None);
        PyObject *r = NULL;
        if (value != NULL) {
            r = deque_append(buf, v);
            Py_DECREF(v);
            if (r == NULL) {
                Py_DECREF(value);
                Py_DECREF(w);
                return NULL;
            }
            Py_DECREF(r);
        }
        else
            value = v;
        r = do_ready(sched, w);
        Py_DECREF(w);
        if (r == NULL) {
            Py_DECREF(value);
            return NULL;
        }
        Py_DECREF(r);
        return value;
    }
    if (SLOT(chan, k_closed) != Py_False || !may_block(chan, sched, cur))
        return TWIN;  /* (closed, or it refuses to block: the twin raises) */
    if (j != NULL && journal_begin(j, t, chan, NULL) < 0)
        return NULL;
    PyObject *r = wait(chan, sched, cur, balance, -1, Py_NewRef(Py_None));
    if (r != NULL) {
        PyObject *old = SLOT(cur, t_tempval);
        SLOT(cur, t_tempval) = Py_NewRef(Py_None);
        Py_XDECREF(old);
    }
    return r;
}

/* The body both directions share (a channel_body, see common.h). */
static PyObject *
act(PyObject *chan, PyObject *sched, PyObject *cur, long balance, PyObject *value, long d,
    PyObject *j, PyObject *t)
{
    return d > 0 ? send(chan, sched, cur, balance, value, j, t)
                 : recv(chan, sched, cur, balance, j, t);
}

/* A durable tasklet's call: its journal records this C send or recv (journal.c), as the
   twins' `j.send(self, value, Channel.send)` does. */
static __attribute__((noinline)) PyObject *
durable(PyObject *chan, PyObject *sched, PyObject *cur, long balance, PyObject *value)
{
    long d = value ? 1 : -1;
    return journal_channel_call(SLOT(cur, kt_journal), act, d > 0 ? send_py : recv_py,
                                (PyObject *)KChannel_T, d > 0 ? str_send : str_recv, chan,
                                sched, cur, balance, value, d);
}

/* ------------------------------------------------------------------ entry points */

PyObject *
m_kchannel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *sched, *cur;
    long balance;
    if (kchannel_ready && nargs == 1 && kwnames == NULL) {
        int ok = enter(self, &sched, &cur, &balance);
        if (ok == 2)
            return durable(self, sched, cur, balance, args[0]);
        PyObject *r = ok ? send(self, sched, cur, balance, args[0], NULL, NULL) : TWIN;
        if (r != TWIN) {
            if (r == NULL)
                return NULL;
            Py_DECREF(r);
            Py_RETURN_NONE;
        }
    }
    return call_with_self(self, args, nargs, kwnames, NULL, send_py);
}

PyObject *
m_kchannel_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *sched, *cur;
    long balance;
    if (kchannel_ready && nargs == 0 && kwnames == NULL) {
        int ok = enter(self, &sched, &cur, &balance);
        if (ok == 2)
            return durable(self, sched, cur, balance, NULL);
        PyObject *r = ok ? recv(self, sched, cur, balance, NULL, NULL) : TWIN;
        if (r != TWIN)
            return r;
    }
    return call_with_self(self, args, nargs, kwnames, NULL, recv_py);
}

#define NEED "a sim.Channel (after setup_kchannel)"

/* The module's functions: kchannel_send(chan, value), kchannel_recv(chan). */

PyObject *
sp_kchannel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return as_function(kchannel_ready, KChannel_T, NEED, args, nargs, kwnames, m_kchannel_send);
}

PyObject *
sp_kchannel_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return as_function(kchannel_ready, KChannel_T, NEED, args, nargs, kwnames, m_kchannel_recv);
}

/* -------------------------------------------------------------------------- setup */

/* setup_kchannel(Channel): after setup(), which gives the kernel's types. */
PyObject *
sp_setup_kchannel(PyObject *self, PyObject *args)
{
    PyTypeObject *cls;
    if (!PyArg_ParseTuple(args, "O!:setup_kchannel", &PyType_Type, &cls))
        return NULL;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "setup_kchannel(): call setup() first");
        return NULL;
    }
    static const char *const names[] = {
        "capacity", "_buf", "_waiters", "_balance", "_closed", "_sched"};
    Py_ssize_t off[6];
    int ok = slots_of(cls, names, 6, off);
    if (ok == 0)
        PyErr_SetString(PyExc_TypeError, "setup_kchannel(): the channel's state is no slots");
    if (ok <= 0 || (kt_block_trap = slot_offset(Tasklet_T, "_block_trap")) < 0
        || (kt_journal = slot_offset(Tasklet_T, "_journal")) < 0
        || (ks_trap = slot_offset(Sched_T, "trap")) < 0)
        return NULL;
    if (twins_of(cls, "_send_py", "_recv_py", &send_py, &recv_py) < 0)
        return NULL;
    Py_XSETREF(KChannel_T, (PyTypeObject *)Py_NewRef(cls));
    k_capacity = off[0], k_buf = off[1], k_waiters = off[2], k_balance = off[3];
    k_closed = off[4], k_sched = off[5];
    kchannel_ready = 1;
    Py_RETURN_NONE;
}

int
kchannel_init(PyObject *m)
{
    return INTERN(str_send, "send") < 0 || INTERN(str_recv, "recv") < 0
           || (one = PyLong_FromLong(1)) == NULL || (minus_one = PyLong_FromLong(-1)) == NULL
           ? -1 : 0;
}
