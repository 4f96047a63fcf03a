/* What every file of sim._speedups shares (module.c has the map of the files): the
 * includes, the slot access and prefetch helpers, inlined where they are used, the
 * counters counts() reports, and the entry points module.c's method table names.
 */
#ifndef LOOM_SPEEDUPS_COMMON_H
#define LOOM_SPEEDUPS_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <time.h>

/* Nothing declared below leaves the extension (only PyInit__speedups is exported): each
   file reads the others' state directly, not through the global offset table. */
#pragma GCC visibility push(hidden)

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

#define INTERN(var, s) ((var = PyUnicode_InternFromString(s)) == NULL ? -1 : 0)

/* Counters for counts(): switches done in C / handed to the twin (kernel.c), radius
   queries likewise and motion's relinks (grid.c), parks that prefetched (world.c),
   stackless channel actions done in C / handed to the twin (channel.c). */
extern unsigned long long n_fast, n_slow, n_grid_fast, n_grid_slow, n_relink, n_prefetch,
    n_chan_fast, n_chan_twin;

/* What a C fast path returns where it declines, before anything has changed: its caller
   hands the call to the Python twin (common.c). */
extern char twin_mark;
#define TWIN ((PyObject *)&twin_mark)

/* A channel's C body for one call (channel.c's act, kchannel.c's): send (d = 1, value) or
   receive (d = -1, value NULL) after the channel's checks; j, t: a durable tasklet's
   journal and the tasklet, or NULL.  The result, NULL, or TWIN. */
typedef PyObject *(*channel_body)(PyObject *chan, PyObject *sched, PyObject *cur,
                                  long balance, PyObject *value, long d, PyObject *j,
                                  PyObject *t);

/* ---------------------------------------------------------------- slots (common.c) */

int slots_of(PyTypeObject *tp, const char *const *names, int n, Py_ssize_t *offs);
Py_ssize_t slot_offset(PyTypeObject *tp, const char *name);
int twins_of(PyTypeObject *tp, const char *a, const char *b, PyObject **pa, PyObject **pb);
PyObject *undo_then_raise(PyObject *name, PyObject **args, Py_ssize_t n);
PyObject *as_function(int ok, PyTypeObject *tp, const char *what, PyObject *const *args,
                      Py_ssize_t nargs, PyObject *kwnames,
                      PyObject *(*method)(PyObject *, PyObject *const *, Py_ssize_t,
                                          PyObject *));

/* PyObject_TypeCheck(o, base) with a one-type memo: a switch checks two tasklets (world
   behaviours are a subclass), a query or a pos read one entity per neighbour (a world has a
   few entity kinds).  The memo holds a reference, so the address cannot come back as
   another type. */
static inline int
of_type(PyObject *o, PyTypeObject *base, PyTypeObject **seen)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == base || tp == *seen)
        return 1;
    if (!PyType_IsSubtype(tp, base))
        return 0;
    Py_INCREF(tp);
    Py_XSETREF(*seen, tp);
    return 1;
}

/* Store v (a new reference, may be NULL after an error) in a slot. */
static inline int
put(PyObject *o, Py_ssize_t off, PyObject *v)
{
    if (v == NULL)
        return -1;
    PyObject *old = SLOT(o, off);
    SLOT(o, off) = v;
    Py_XDECREF(old);
    return 0;
}

static inline int
put_borrowed(PyObject *o, Py_ssize_t off, PyObject *v)
{
    Py_INCREF(v);
    return put(o, off, v);
}

/* A slot that must be set (AttributeError otherwise, as Python would raise). */
static inline PyObject *
get(PyObject *o, Py_ssize_t off, const char *name)
{
    PyObject *v = SLOT(o, off);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "'%s' object has no attribute '%s'",
                     Py_TYPE(o)->tp_name, name);
    return v;
}

/* An attribute of a plain instance (World): its __dict__ first, which skips the type's
   attribute search; getattr when it is not there, or when o has no __dict__ (a new
   reference, or NULL and an exception). */
static inline PyObject *
inst_attr(PyObject *o, PyObject *name)
{
    PyObject *d = PyObject_GenericGetDict(o, NULL);
    if (d == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
    }
    else {
        PyObject *v = PyDict_Check(d) ? PyDict_GetItemWithError(d, name) : NULL;
        Py_XINCREF(v);
        Py_DECREF(d);
        if (v != NULL)
            return v;
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_GetAttr(o, name);
}

#define PF(p) __builtin_prefetch((p), 0, 3)

static inline void
pf_lines(const void *p, int n)
{
    for (int i = 0; i < n; i++)
        PF((const char *)p + 64 * i);
}

/* -------------------------------------------------------------------- entry points */

/* A METH_FASTCALL entry's argument check: 0 when ok, else TypeError naming the signature. */
static inline int
bad_args(int ok, const char *signature)
{
    if (ok)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s: wrong arguments", signature);
    return -1;
}

/* An entry point called as a method (a method descriptor made by method(cls, name), see
   module.c): self put in front of the arguments, for fn or (fn NULL) for a Python callable,
   its twin. */
static inline PyObject *
call_with_self(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               PyObject *(*fn)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *),
               PyObject *twin)
{
    Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8], **stack = small;
    if (n >= 8 && (stack = PyMem_Malloc((n + 1) * sizeof(PyObject *))) == NULL)
        return PyErr_NoMemory();
    stack[0] = self;
    memcpy(stack + 1, args, n * sizeof(PyObject *));
    PyObject *r = fn != NULL ? fn(NULL, stack, nargs + 1, kwnames)
                             : PyObject_Vectorcall(twin, stack, nargs + 1, kwnames);
    if (stack != small)
        PyMem_Free(stack);
    return r;
}

static inline PyObject *
with_self(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
          PyObject *(*fn)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *))
{
    return call_with_self(self, args, nargs, kwnames, fn, NULL);
}

/* kernel.c */
PyObject *sp_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *m_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_ready(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *m_ready(PyObject *self, PyObject *t);
PyObject *sp_block(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *m_block(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_setup(PyObject *self, PyObject *args);
PyObject *sp_set_hooks(PyObject *self, PyObject *flag);
int kernel_init(PyObject *m);

/* world.c */
PyObject *thread_sched(void);  /* the calling thread's scheduler (see there) */
PyObject *sp_bind_thread(PyObject *self, PyObject *sched);
PyObject *sp_park(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_next_tick(PyObject *self, PyObject *unused);
PyObject *sp_sleep_until(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *m_sleep_until(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
PyObject *sp_wake(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_sweep(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_query_radius(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *m_query_radius(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *sp_setup_world(PyObject *self, PyObject *args);
int world_init(PyObject *m);

/* grid.c */
PyObject *sp_move_wrapped(PyObject *self, PyObject *args);
PyObject *sp_grid_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
PyObject *m_grid_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames);
PyObject *sp_setup_grid(PyObject *self, PyObject *args);
PyObject *sp_setup_entity(PyObject *self, PyObject *args);
int grid_init(PyObject *m);

/* descr.c */
PyObject *sp_pair(PyObject *self, PyObject *args);
PyObject *sp_alias(PyObject *self, PyObject *args);
PyObject *sp_readonly_slot(PyObject *self, PyObject *args);
int descr_init(PyObject *m);

/* channel.c */
PyObject *m_channel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *m_channel_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames);
PyObject *sp_channel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *sp_channel_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames);
PyObject *sp_setup_channel(PyObject *self, PyObject *args);
int channel_init(PyObject *m);

/* kchannel.c */
PyObject *m_kchannel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *m_kchannel_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *sp_kchannel_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames);
PyObject *sp_kchannel_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames);
PyObject *sp_setup_kchannel(PyObject *self, PyObject *args);
int kchannel_init(PyObject *m);

/* journal.c */
PyObject *journal_call(PyObject *j, PyObject *chan, PyObject *value, PyObject *op);
PyObject *journal_may_record(PyObject *j, PyObject *value);
PyObject *journal_channel_call(PyObject *j, channel_body body, PyObject *twin, PyObject *cls,
                               PyObject *name, PyObject *chan, PyObject *sched,
                               PyObject *cur, long balance, PyObject *value, long d);
int journal_begin(PyObject *j, PyObject *t, PyObject *chan, PyObject *value);
PyObject *journal_end(PyObject *j, PyObject *t, PyObject *chan, PyObject *value, PyObject *r);
PyObject *m_journal_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *m_journal_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *sp_journal_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *sp_journal_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *sp_setup_journal(PyObject *self, PyObject *args);
int journal_init(PyObject *m);

/* interest.c */
PyObject *sp_grid_index(PyObject *self, PyObject *grid);
PyObject *sp_index_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_interest_see(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_interest_delta(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_grid_nearest(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *m_grid_nearest(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
int interest_init(PyObject *m);

/* snapshot.c */
/* o as an unsigned 64-bit int: 1; 0 when it is not an exact int in 0..2**64-1 (no error
   left set); -1 never (an error of the conversion is cleared: the twin decides). */
static inline int
as_uint(PyObject *o, unsigned long long *v)
{
    if (!PyLong_CheckExact(o))
        return 0;
    *v = PyLong_AsUnsignedLongLong(o);
    if (*v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* o as a double the way float(o) makes it, for a float or an int: 1, or 0 (no error set). */
static inline int
as_double(PyObject *o, double *v)
{
    if (PyFloat_CheckExact(o)) {
        *v = PyFloat_AS_DOUBLE(o);
        return 1;
    }
    if (!PyLong_CheckExact(o))
        return 0;
    *v = PyLong_AsDouble(o);
    if (*v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

PyObject *frame_of(unsigned long long num, unsigned long long base, unsigned long long tick,
                   unsigned long long ack, double server_time, double time_scale,
                   PyObject *records, PyObject *removed, long long max_frame,
                   PyObject *records_size);
PyObject *sp_snapshot_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames);
PyObject *sp_setup_snapshot(PyObject *self, PyObject *args);
int snapshot_init(PyObject *m);

/* movement.c */
PyObject *sp_parse_movement(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_setup_movement(PyObject *self, PyObject *args);
int movement_init(PyObject *m);

/* input.c */
PyObject *sp_read_input(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sp_setup_input(PyObject *self, PyObject *args);

/* sync.c */
PyObject *m_sync_client(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
PyObject *sp_sync_client(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *sp_setup_sync(PyObject *self, PyObject *args);
int sync_init(PyObject *m);

#pragma GCC visibility pop

#endif
