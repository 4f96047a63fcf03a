/* sim.stackless's channel: send and receive in C when nothing needs the general path.
 * The twins are channel._send_py and channel._receive_py (sim/_stackless/channel.py): this
 * is their fast path, step for step, and everything else goes to them before anything has
 * changed: a channel callback, schedule_all, a partner of another thread, a refusal to
 * block (block_trap, closing, switch_trap), an unusual value in a slot, another thread
 * inside the channel's lock.  A durable tasklet's call goes to its journal (journal.c),
 * which records this same C send or receive, as the twins do.
 *
 * # Discussion: the lock.
 * A channel may be shared between threads; its Python paths change it under its lock.  This
 * C runs from its first read to its last change without releasing the GIL and without
 * running Python code (an old value it replaces is let go only afterwards), so no other
 * thread can see or touch the channel half changed: it only has to make sure that no other
 * thread is half way through a change of its own, and takes the twin when the lock is
 * held.  It neither takes nor releases the lock: the GIL makes it one step.
 */
#include "kernel.h"

unsigned long long n_chan_fast, n_chan_twin;
static int channel_ready = 0;
static PyTypeObject *Channel_T, *Lock_T;
static PyCFunction lock_locked;  /* _thread.lock.locked (METH_NOARGS), as deque's in kernel.c */
static PyObject *send_py, *receive_py;     /* the twins */
static PyObject *kernel_globals;           /* sim._kernel.scheduler's, for _channel_cb */
static PyObject *str_channel_cb, *str_block_failed, *str_release_partner, *str_send,
    *str_receive;
static PyObject *one, *minus_one;
static Py_ssize_t c_waiters, c_balance, c_pref, c_schedule_all, c_closing, c_lock;
static Py_ssize_t t_sched, t_block_trap, t_xpartner, t_journal, s_trap;

/* Where the fast path declines: the caller hands the call to the twin. */

/* The twins, as with_self() calls them (self first). */
static PyObject *
send_twin(PyObject *unused, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return PyObject_Vectorcall(send_py, args, nargs, kwnames);
}

static PyObject *
receive_twin(PyObject *unused, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return PyObject_Vectorcall(receive_py, args, nargs, kwnames);
}

/* Hand a call to a twin.  Out of line: with_self's array must not sit on the stack of the
   fast path, which greenlet copies out and back in at every switch. */
static __attribute__((noinline)) PyObject *
to_twin(PyObject *(*twin)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *),
        PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    n_chan_twin++;
    return with_self(self, args, nargs, kwnames, twin);
}

/* The state both directions read first.  1: the fast path may go on, with *sched (a new
   reference), *cur and *balance; 2: the same, for a durable tasklet (its journal's turn);
   0: the twin's turn (nothing held); -1: an error. */
static inline int
enter(PyObject *chan, PyObject **sched, PyObject **cur, long *balance)
{
    PyObject *cb = PyDict_GetItemWithError(kernel_globals, str_channel_cb);
    if (cb != Py_None)  /* a channel callback (or no such global): the general path */
        return PyErr_Occurred() ? -1 : 0;
    PyObject *lock = SLOT(chan, c_lock), *bal = SLOT(chan, c_balance);
    if (SLOT(chan, c_schedule_all) != zero || lock == NULL || !Py_IS_TYPE(lock, Lock_T)
        || bal == NULL || !PyLong_CheckExact(bal) || SLOT(chan, c_pref) == NULL
        || SLOT(chan, c_closing) == NULL || SLOT(chan, c_waiters) == NULL
        || !Py_IS_TYPE(SLOT(chan, c_waiters), Deque_T))
        return 0;
    PyObject *locked = lock_locked(lock, NULL);  /* another thread inside the channel */
    if (locked == NULL)
        return -1;
    Py_DECREF(locked);
    if (locked != Py_False)
        return 0;
    *balance = PyLong_AsLong(bal);
    if (*balance == -1 && PyErr_Occurred())
        return -1;
    PyObject *s = thread_sched();
    if (s == NULL)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *c = Py_IS_TYPE(s, Sched_T) ? SLOT(s, s_current) : NULL;
    if (c == NULL || !of_type(c, Tasklet_T, &tasklet_seen) || SLOT(s, s_trap) == NULL
        || SLOT(s, s_q) == NULL || !Py_IS_TYPE(SLOT(s, s_q), Deque_T)
        || SLOT(c, t_journal) == NULL) {
        Py_DECREF(s);
        return 0;
    }
    *sched = s;
    *cur = c;
    /* 2: a durable tasklet, whose calls go through its journal (sim/_kernel/gate.py) */
    return SLOT(c, t_journal) != Py_None ? 2 : 1;
}

/* The waiting partner at the head of the queue, if this thread's and not queued to run
   (borrowed; NULL: the twin's turn). */
static inline PyObject *
partner(PyObject *chan, PyObject *sched)
{
    PyObject *w = PySequence_GetItem(SLOT(chan, c_waiters), 0);
    if (w == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(w);  /* the queue holds it */
    if (!of_type(w, Tasklet_T, &tasklet_seen) || SLOT(w, t_sched) != sched
        || SLOT(w, t_in_ring) != Py_False || SLOT(w, t_tempval) == NULL)
        return NULL;
    return w;
}

/* balance += d (the new int, or NULL). */
static inline int
add_balance(PyObject *chan, long balance, long d)
{
    return put(chan, c_balance, PyLong_FromLong(balance + d));
}

/* Take the partner off the queue (a new reference), balance += d. */
static inline PyObject *
take(PyObject *chan, long balance, long d)
{
    PyObject *w = deque_popleft(SLOT(chan, c_waiters), NULL);
    if (w != NULL && add_balance(chan, balance, d) < 0)
        Py_CLEAR(w);
    return w;
}

/* Scheduler.yield_to(cur, w) for w not queued: w runs now, cur goes to the end of the run
   queue.  Returns what the switch returns (cur's tempval when it is resumed). */
static inline PyObject *
yield_to(PyObject *sched, PyObject *cur, PyObject *w)
{
    PyObject *chan = SLOT(w, t_chan);  /* the channel: the caller holds it */
    put_borrowed(w, t_blocked, zero);
    SLOT(w, t_chan) = Py_NewRef(Py_None);
    put_borrowed(w, t_in_ring, Py_True);
    put_borrowed(cur, t_in_ring, Py_True);
    PyObject *r = deque_append(SLOT(sched, s_q), cur);
    Py_XDECREF(chan);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    return do_switch(sched, cur, w);
}

/* set o's tempval to v (a new reference); returns the old one, to let go of later. */
static inline PyObject *
swap_tempval(PyObject *o, PyObject *v)
{
    PyObject *old = SLOT(o, t_tempval);
    SLOT(o, t_tempval) = v;
    return old;
}

/* A bomb is raised in the receiver (its raise_() raises); anything else is returned. */
static PyObject *
explode(PyObject *v)
{
    if ((PyObject *)Py_TYPE(v) != bomb_T)
        return v;
    PyObject *r = PyObject_CallMethodNoArgs(v, str_raise);
    Py_DECREF(v);
    return r;
}

/* Blocking failed (a deadlock, an exception thrown in): channel._block_failed(sched, cur,
   e) undoes it, then e propagates, or what _block_failed raised instead (e its context, as
   in the twin's `except ... raise ... from None`).  Always NULL. */
static __attribute__((noinline)) PyObject *
block_failed(PyObject *chan, PyObject *sched, PyObject *cur)
{
    PyObject *args[4] = {chan, sched, cur, NULL};
    return undo_then_raise(str_block_failed, args, 3);
}

/* cur waits on chan in direction d (channel._enqueue and Scheduler.wait_on) and blocks:
   what the twins' blocking tails do, _release_partner included.  v: cur's tempval while it
   waits (a new reference). */
static inline __attribute__((always_inline)) PyObject *
wait(PyObject *chan, PyObject *sched, PyObject *cur, long balance, PyObject *d, PyObject *v)
{
    PyObject *r = deque_append(SLOT(chan, c_waiters), cur);
    if (r == NULL) {
        Py_DECREF(v);
        return NULL;
    }
    Py_DECREF(r);
    if (add_balance(chan, balance, d == one ? 1 : -1) < 0) {
        Py_DECREF(v);
        return NULL;  /* (cur stays queued, as if the twin had failed there) */
    }
    PyObject *old = swap_tempval(cur, v);
    put_borrowed(cur, t_blocked, d);
    put_borrowed(cur, t_chan, chan);
    put_borrowed(cur, t_in_ring, Py_False);
    Py_XDECREF(old);
    r = do_block(sched, cur, Py_None, zero, NULL);
    if (r == NULL)
        return block_failed(chan, sched, cur);
    if (SLOT(cur, t_xpartner) != Py_None) {
        PyObject *x = PyObject_CallMethodOneArg(chan, str_release_partner, cur);
        if (x == NULL) {
            Py_DECREF(r);
            return NULL;
        }
        Py_DECREF(x);
    }
    return r;
}

/* send: w, a waiting receiver, gets value (_send_py's branch "a receiver waits"). */
static inline __attribute__((always_inline)) PyObject *
give(PyObject *sched, PyObject *cur, PyObject *w, PyObject *value, long pref)
{
    PyObject *old = swap_tempval(w, Py_NewRef(value));
    Py_XDECREF(old);
    if (pref >= 0)
        return do_ready(sched, w);
    /* the receiver is preferred: it runs now, we after the others */
    old = swap_tempval(cur, Py_NewRef(Py_None));
    Py_XDECREF(old);
    return yield_to(sched, cur, w);
}

/* receive: the value of w, a waiting sender (_receive_py's branch "a sender waits"). */
static inline __attribute__((always_inline)) PyObject *
take_value(PyObject *sched, PyObject *cur, PyObject *w, long pref)
{
    PyObject *v = swap_tempval(w, Py_NewRef(Py_None));  /* its value, ours now */
    if (pref <= 0) {
        PyObject *r = do_ready(sched, w);
        if (r == NULL) {
            Py_DECREF(v);
            return NULL;
        }
        Py_DECREF(r);
        return explode(v);
    }
    /* the sender is preferred: it runs now, we after the others */
    PyObject *old = swap_tempval(cur, v);
    Py_XDECREF(old);
    PyObject *r = yield_to(sched, cur, w);
    if (r != NULL) {
        old = swap_tempval(cur, Py_NewRef(Py_None));
        Py_XDECREF(old);
    }
    return r;
}

/* The fast path of send (d = 1, value) or receive (d = -1, value NULL) after enter(), as
   the twins do it; TWIN when it declines, before anything has changed.  send's result is
   not None: the caller drops it.  j, t: a durable tasklet's journal and the tasklet (else
   NULL), whose call begins (journal_begin) before anything switches.  Inlined into
   action: a call frame more would be on the stack greenlet copies at every switch. */
static inline __attribute__((always_inline)) PyObject *
act(PyObject *chan, PyObject *sched, PyObject *cur, long balance, PyObject *value, long d,
    PyObject *j, PyObject *t)
{
    PyObject *w, *r;
    long pref;
    if ((pref = PyLong_AsLong(SLOT(chan, c_pref))) == -1 && PyErr_Occurred())
        r = NULL;
    else if (balance * d < 0) {  /* a partner waits */
        if ((w = partner(chan, sched)) == NULL || (pref == -d && SLOT(sched, s_trap) != zero))
            r = TWIN;  /* (the preferred partner would run under switch_trap: refused) */
        else if (j != NULL && pref * d < 0 && journal_begin(j, t, chan, value) < 0)
            r = NULL;  /* (the partner is preferred: it runs now) */
        else if ((w = take(chan, balance, d)) == NULL)
            r = NULL;
        else {
            n_chan_fast++;
            r = d > 0 ? give(sched, cur, w, value, pref) : take_value(sched, cur, w, pref);
            Py_DECREF(w);
        }
    }
    else if (SLOT(cur, t_block_trap) != Py_False || SLOT(chan, c_closing) != Py_False
             || SLOT(sched, s_trap) != zero)
        r = TWIN;  /* it refuses to block: the twin raises the right error */
    else if (j != NULL && journal_begin(j, t, chan, value) < 0)
        r = NULL;
    else {
        n_chan_fast++;
        r = wait(chan, sched, cur, balance, d > 0 ? one : minus_one,
                 Py_NewRef(d > 0 ? value : Py_None));
        if (r != NULL && d < 0) {
            PyObject *old = swap_tempval(cur, Py_NewRef(Py_None));
            Py_XDECREF(old);
            r = explode(r);
        }
    }
    return r;
}

/* send (d = 1) or receive (d = -1): the fast path, the journal's, or TWIN. */
static PyObject *
action(PyObject *chan, PyObject *value, long d)
{
    PyObject *sched, *cur, *r;
    long balance;
    int ok = enter(chan, &sched, &cur, &balance);
    if (ok <= 0)
        return ok < 0 ? NULL : TWIN;
    if (ok == 2)  /* a durable tasklet: its journal records this call (journal.c) */
        r = journal_channel_call(SLOT(cur, t_journal), act, d > 0 ? send_py : receive_py,
                                 (PyObject *)Channel_T, d > 0 ? str_send : str_receive,
                                 chan, sched, cur, balance, value, d);
    else
        r = act(chan, sched, cur, balance, value, d, NULL, NULL);
    Py_DECREF(sched);
    return r;
}

/* ------------------------------------------------------------------ entry points */

PyObject *
m_channel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (channel_ready && nargs == 1 && kwnames == NULL) {
        PyObject *r = action(self, args[0], 1);
        if (r != TWIN) {
            if (r == NULL)
                return NULL;
            Py_DECREF(r);
            Py_RETURN_NONE;
        }
    }
    return to_twin(send_twin, self, args, nargs, kwnames);
}

PyObject *
m_channel_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (channel_ready && nargs == 0 && kwnames == NULL) {
        PyObject *r = action(self, NULL, -1);
        if (r != TWIN)
            return r;
    }
    return to_twin(receive_twin, self, args, nargs, kwnames);
}

#define NEED "a sim.stackless channel (after setup_channel)"

/* The module's functions: channel_send(chan, value), channel_receive(chan). */

PyObject *
sp_channel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return as_function(channel_ready, Channel_T, NEED, args, nargs, kwnames, m_channel_send);
}

PyObject *
sp_channel_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    return as_function(channel_ready, Channel_T, NEED, args, nargs, kwnames, m_channel_receive);
}

/* -------------------------------------------------------------------------- setup */

/* setup_channel(channel, kernel_module): after setup(), which gives the kernel's types. */
PyObject *
sp_setup_channel(PyObject *self, PyObject *args)
{
    PyTypeObject *chan;
    PyObject *kernel;
    if (!PyArg_ParseTuple(args, "O!O!:setup_channel", &PyType_Type, &chan, &PyModule_Type,
                          &kernel))
        return NULL;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "setup_channel(): call setup() first");
        return NULL;
    }
    static const char *const cnames[] = {
        "_waiters", "_balance", "_pref", "_schedule_all", "_closing", "_lock"};
    Py_ssize_t coff[6];
    int ok = slots_of(chan, cnames, 6, coff);
    if (ok == 0)
        PyErr_SetString(PyExc_TypeError, "setup_channel(): the channel's state is no slots");
    if (ok <= 0 || (t_sched = slot_offset(Tasklet_T, "_sched")) < 0
        || (t_block_trap = slot_offset(Tasklet_T, "_block_trap")) < 0
        || (t_xpartner = slot_offset(Tasklet_T, "_xpartner")) < 0
        || (t_journal = slot_offset(Tasklet_T, "_journal")) < 0
        || (s_trap = slot_offset(Sched_T, "trap")) < 0)
        return NULL;
    if (twins_of(chan, "_send_py", "_receive_py", &send_py, &receive_py) < 0)
        return NULL;
    PyObject *thread = PyImport_ImportModule("_thread");
    PyObject *lock_t = thread ? PyObject_GetAttrString(thread, "LockType") : NULL;
    PyObject *locked = lock_t ? PyObject_GetAttrString(lock_t, "locked") : NULL;
    Py_XDECREF(thread);
    ok = locked != NULL && PyType_Check(lock_t) && Py_IS_TYPE(locked, &PyMethodDescr_Type)
         && ((PyMethodDescrObject *)locked)->d_method->ml_flags == METH_NOARGS;
    if (ok) {
        lock_locked = ((PyMethodDescrObject *)locked)->d_method->ml_meth;
        Py_XSETREF(Lock_T, (PyTypeObject *)Py_NewRef(lock_t));  /* held: lock_locked stays */
        Py_XSETREF(Channel_T, (PyTypeObject *)Py_NewRef(chan));
        Py_XSETREF(kernel_globals, Py_NewRef(PyModule_GetDict(kernel)));
        c_waiters = coff[0], c_balance = coff[1], c_pref = coff[2];
        c_schedule_all = coff[3], c_closing = coff[4], c_lock = coff[5];
    }
    else if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "setup_channel(): _thread.lock is not as expected");
    Py_XDECREF(lock_t);
    Py_XDECREF(locked);
    if (!ok)
        return NULL;
    channel_ready = 1;
    Py_RETURN_NONE;
}

int
channel_init(PyObject *m)
{
    return INTERN(str_channel_cb, "_channel_cb") < 0
           || INTERN(str_block_failed, "_block_failed") < 0
           || INTERN(str_release_partner, "_release_partner") < 0
           || INTERN(str_send, "send") < 0 || INTERN(str_receive, "receive") < 0
           || (one = PyLong_FromLong(1)) == NULL || (minus_one = PyLong_FromLong(-1)) == NULL
           ? -1 : 0;
}
