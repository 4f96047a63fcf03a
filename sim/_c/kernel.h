/* The kernel's state that its door, do_switch(), reads, and do_switch itself: inlined into
 * the switch entry points (kernel.c) and into the park (world.c), the two paths every
 * switch of a world takes.  setup() in kernel.c fills the state.
 */
#ifndef LOOM_SPEEDUPS_KERNEL_H
#define LOOM_SPEEDUPS_KERNEL_H

#include "common.h"

#pragma GCC visibility push(hidden)

/* -------------------------------------------------------------------------- Core */

/* Tasklet's base: the counters the kernel updates at every switch, as C integers inside the
   tasklet itself.  As Python ints in slots, each update allocated a new int and freed the
   old one, whose memory had gone cold since the tasklet last ran: several cache misses per
   wake, most of a wake's cost with 10,000 entities.  The pure-Python twin is
   sim._kernel.tasklet._PyCore, a class with the same slots.  (The world's own counters,
   _due and _mark, are kept the same way in its behaviour type: see setup_world in world.c.) */
typedef struct {
    PyObject_HEAD
    long long time_ns;      /* wall ns spent running */
    long long units;        /* deterministic budget units spent */
    long long switches;     /* times switched to */
    long long preemptions;  /* times preempted */
} Core;

#define CORE(o) ((Core *)(o))

/* ------------------------------------------------------------ state set by setup() */

extern int ready;
extern int hooks;  /* a schedule callback or trace/profile hook is set */
extern PyTypeObject *Tasklet_T, *Sched_T, *tasklet_seen;
extern PyObject *BUDGET, *FLAG, *bomb_T, *str_raise, *str_popleft, *str_append;
extern PyObject *zero;  /* the int 0 (_blocked when not blocked) */
extern PyObject *ready_py, *block_py;  /* Scheduler._ready_py, Scheduler._block_py */
/* The run queue's type, collections.deque, and the C functions of its append (METH_O) and
   popleft (METH_NOARGS) methods, called directly: a queue operation then costs neither a
   method lookup nor a descriptor call (Scheduler.q is a deque; another type takes the
   generic call).  Set by setup(). */
extern PyTypeObject *Deque_T;
extern PyCFunction deque_append, deque_popleft;
/* Slot offsets: Tasklet's (t_), Scheduler's (s_), Budget's (b_). */
extern Py_ssize_t t_greenlet, t_tempval, t_started, t_in_ring, t_blocked, t_chan;
extern Py_ssize_t s_t0, s_pending_irq, s_soft_at, s_current, s_q;
extern Py_ssize_t b_n, b_n0;

/* greenlet's public C API (greenlet/greenlet.h): slot 6 of the capsule "greenlet._C_API"
   is PyGreenlet_Switch(greenlet, args, kwargs), slot 0 PyGreenlet_Type.  Calling it
   directly, rather than the greenlet's switch() method, leaves fewer C frames on the
   tasklet's stack, which greenlet copies out and back in at every switch. */
typedef PyObject *(*greenlet_switch_fn)(PyObject *g, PyObject *args, PyObject *kwargs);
extern greenlet_switch_fn greenlet_switch;
extern PyTypeObject *Greenlet_T;
extern PyObject *empty_tuple;

/* The greenlet this thread last switched to in do_switch (see there). */
extern _Thread_local PyObject *landing;

/* Out of line, in kernel.c: the budget's accounting and the hand-over to the twin. */
int spend_budget(PyObject *sched, PyObject *cur);
PyObject *switch_slow(PyObject *sched, PyObject *cur, PyObject *nxt);

/* -------------------------------------------------------------------------- switch */

static inline long long
now_ns(void)
{
    /* time.perf_counter_ns() on Linux: CLOCK_MONOTONIC (the Python twin reads that). */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}


/* A Python int as a C integer: PyLong_AsLong where long has 64 bits, which reads an int of
   several digits (t0, soft_at) in a short loop, where PyLong_AsLongLong takes the general
   byte-array conversion (most of a switch's own cost before). */
static inline long long
as_i64(PyObject *o)
{
#if LONG_MAX == LLONG_MAX
    return PyLong_AsLong(o);
#else
    return PyLong_AsLongLong(o);
#endif
}

static inline __attribute__((always_inline)) PyObject *
do_switch(PyObject *sched, PyObject *cur, PyObject *nxt)
{
    if (!ready || hooks || !Py_IS_TYPE(sched, Sched_T)
        || !of_type(cur, Tasklet_T, &tasklet_seen) || !of_type(nxt, Tasklet_T, &tasklet_seen))
        return switch_slow(sched, cur, nxt);

    /* Conditions for the fast path, read before anything changes. */
    PyObject *n = SLOT(BUDGET, b_n), *n0 = SLOT(BUDGET, b_n0);
    int spent = n != n0;
    if (spent) {  /* ints outside CPython's small-int cache compare by value */
        spent = PyObject_RichCompareBool(n, n0, Py_NE);
        if (spent < 0)
            return NULL;
    }
    PyObject *pending = SLOT(sched, s_pending_irq);
    if ((pending != Py_False && pending != Py_True) || SLOT(nxt, t_started) != Py_True)
        return switch_slow(sched, cur, nxt);
    spent |= pending == Py_True;
    long long now = now_ns();
    PyObject *soft_at = SLOT(sched, s_soft_at), *t0o = SLOT(sched, s_t0);
    PyObject *g = SLOT(nxt, t_greenlet);
    if (soft_at == NULL || t0o == NULL || g == NULL || !PyObject_TypeCheck(g, Greenlet_T))
        return switch_slow(sched, cur, nxt);
    long long soft = as_i64(soft_at);
    if (soft == -1 && PyErr_Occurred())
        return NULL;
    if (now >= soft)
        return switch_slow(sched, cur, nxt);
    long long t0 = as_i64(t0o);
    if (t0 == -1 && PyErr_Occurred())
        return NULL;
    if (spent) {  /* (before the time: the two are independent, and this may decline) */
        int ok = spend_budget(sched, cur);
        if (ok <= 0)
            return ok < 0 ? NULL : switch_slow(sched, cur, nxt);
    }

    /* cur.time_ns += now - sched.t0; sched.t0 = now */
    if (put(sched, s_t0, PyLong_FromLongLong(now)) < 0)
        return NULL;
    CORE(cur)->time_ns += now - t0;
    /* if FLAG: FLAG.clear() */
    if (PyList_GET_SIZE(FLAG) && PyList_SetSlice(FLAG, 0, PY_SSIZE_T_MAX, NULL) < 0)
        return NULL;
    CORE(nxt)->switches += 1;
    n_fast++;
    put_borrowed(sched, s_current, nxt);

    /* g must stay alive while the switch runs.  Its reference is dropped at this thread's
       next fast switch, not when cur resumes: by then g has gone cold (its decref was a
       cache miss at every resume).  What is dropped at resume instead is the greenlet the
       previous fast switch went to, which is normally cur's own: warm, and still held. */
    PyObject *old = landing;
    Py_INCREF(g);
    landing = g;
    PyObject *r = greenlet_switch(g, empty_tuple, NULL);
    Py_XDECREF(old);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);

    /* --- resumed: whoever switched here set sched.current to cur */
    PyObject *v = get(cur, t_tempval, "tempval");
    if (v == NULL)
        return NULL;
    if ((PyObject *)Py_TYPE(v) == bomb_T) {
        Py_INCREF(v);
        put_borrowed(cur, t_tempval, Py_None);
        r = PyObject_CallMethodNoArgs(v, str_raise);
        Py_DECREF(v);
        if (r == NULL)
            return NULL;
        return r;
    }
    Py_INCREF(v);
    return v;
}

/* ------------------------------------------------------------------- ready, block */

/* Scheduler.ready(t): t waits on no channel and, unless queued, goes to the end of the run
   queue.  Anything unusual goes to the twin, Scheduler._ready_py. */
static inline PyObject *
do_ready(PyObject *sched, PyObject *t)
{
    PyObject *q;
    if (!ready || !Py_IS_TYPE(sched, Sched_T) || !of_type(t, Tasklet_T, &tasklet_seen)
        || (q = SLOT(sched, s_q)) == NULL || SLOT(t, t_in_ring) == NULL) {
        PyObject *args[2] = {sched, t};
        return PyObject_Vectorcall(ready_py, args, 2, NULL);
    }
    if (SLOT(t, t_blocked) != zero)
        put_borrowed(t, t_blocked, zero);
    if (SLOT(t, t_chan) != Py_None)
        put_borrowed(t, t_chan, Py_None);
    if (SLOT(t, t_in_ring) != Py_True) {
        put_borrowed(t, t_in_ring, Py_True);
        PyObject *r = Py_IS_TYPE(q, Deque_T) ? deque_append(q, t)
                                             : PyObject_CallMethodOneArg(q, str_append, t);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

/* Scheduler.block(cur, chan, d) when something is queued: cur leaves the ring (waiting on
   chan in direction d, unless chan is None) and the queue's head runs; `prefetch` (a
   tick's park, see world.c; NULL elsewhere) is called with it first.  With nothing queued
   the twin, Scheduler._block_py, does it all (next_for_block: timers, other threads,
   deadlock), before anything has changed. */
static inline __attribute__((always_inline)) PyObject *
do_block(PyObject *sched, PyObject *cur, PyObject *chan, PyObject *d,
         void (*prefetch)(PyObject *))
{
    PyObject *q;
    Py_ssize_t len;
    if (!ready || !Py_IS_TYPE(sched, Sched_T) || !of_type(cur, Tasklet_T, &tasklet_seen)
        || (q = SLOT(sched, s_q)) == NULL || (chan != Py_None && !PyLong_CheckExact(d)))
        goto twin;
    /* (the length through the public API, not Py_SIZE: a deque's layout is its module's) */
    if ((len = PyObject_Size(q)) < 0)
        return NULL;
    if (len == 0)
        goto twin;
    PyObject *next = Py_IS_TYPE(q, Deque_T) ? deque_popleft(q, NULL)
                                            : PyObject_CallMethodNoArgs(q, str_popleft);
    if (next == NULL)
        return NULL;
    if (chan != Py_None) {
        put_borrowed(cur, t_blocked, d);
        put_borrowed(cur, t_chan, chan);
    }
    put_borrowed(cur, t_in_ring, Py_False);
    if (prefetch != NULL)
        prefetch(next);
    PyObject *r = do_switch(sched, cur, next);
    Py_DECREF(next);
    return r;
twin:
    {
        PyObject *args[4] = {sched, cur, chan, d};
        return PyObject_Vectorcall(block_py, args, 4, NULL);
    }
}

#pragma GCC visibility pop

#endif
