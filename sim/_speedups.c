/* sim._speedups: the kernel's hottest paths in C.
 *
 * Everything here has a pure-Python twin that stays the reference (and runs when this
 * module is absent, or when LOOM_PURE_PYTHON=1): Scheduler._switch_py in sim/_kernel.py,
 * park() and next_tick() in sim/_behaviour.py, the pos/vel properties in sim/_entity.py,
 * Grid._query_radius_py and Grid.move_all in sim/_aoi.py, World._query_radius_py and
 * World._sleep_until_py in sim/_world.py.  The four that are methods are installed as
 * method descriptors of their classes (method(cls, name)).
 * The C versions do only the common case, the one that runs at nearly every switch, and
 * hand everything else to the Python twin *before* changing any state:
 *
 *   switch(sched, cur, nxt)   the kernel's switch (budget accounting included), when no
 *                             soft interrupt is due, no hook is set and nxt has started;
 *                             otherwise Scheduler._switch_py does the whole switch.
 *   ready(t), block(cur...)   the door's two hot primitives (Scheduler.ready and .block;
 *                             the twins are _ready_py and _block_py).
 *   park(t, world, due)       a behaviour parks on its world's tick wheel.
 *   next_tick()               park(current, world, world._tick + 1).
 *   grid_query(...)           Grid.query_radius: the cells a disc touches, scanned, and
 *                             the ids sorted, across a wrapping grid's seam too.
 *   query_radius(...)         World.query_radius: the same scan; each hit is an entity,
 *                             its own grid record.
 *   move_wrapped(...)         Grid.move_all's loop: the world's motion, every tick.
 *   alias(...)                a read-only view of another attribute (World.tick).
 *   pair(...)                 a data descriptor reading two slots as a tuple (Entity.pos,
 *                             Entity.vel); setting calls the Python setter.
 *
 * # Discussion: slots at fixed offsets.
 * Tasklet, Scheduler, Budget, BehaviourTasklet and Entity keep their hot state in
 * __slots__; setup() looks up each slot's member descriptor once and keeps its offset, so a
 * read here is a load, where a generic getattr would search the type and a dict. The
 * offsets stay valid for subclasses (CPython appends a subclass's slots after its base's).
 * Objects of other types are never read this way: callers check the type first.
 *
 * # Discussion: prefetching.
 * A tick resumes its behaviours in its woken list's order, each one's objects gone cold
 * since it last ran; a plain loop over the same entities touches far fewer objects per
 * entity.  Each park prefetches, one pointer level per park, the objects of the
 * behaviours the next few parks will resume (prefetch_ahead()), and each radius query
 * prefetches the cells it will scan.  Prefetching changes no state and cannot fault; the
 * loads it takes its addresses from are of objects held alive and already prefetched.
 *
 * Single-phase init, process-wide state: like greenlet, this module does not support
 * sub-interpreters.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <time.h>

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

/* ---------------------------------------------------------------- state set by setup() */

static int ready = 0;
static int world_ready = 0;
static int hooks = 0;                  /* a schedule callback or trace/profile hook is set */
static unsigned long long n_fast, n_slow;  /* switches done here / handed to the twin */
static unsigned long long n_grid_fast, n_grid_slow;  /* radius queries likewise */
static unsigned long long n_prefetch;  /* parks that prefetched the behaviours after next */
static unsigned long long n_relink;  /* motion's cell changes relinked in C */

static PyTypeObject *Tasklet_T, *Sched_T, *Behaviour_T, *Watchdog_T;
static long long window;
static PyObject *BUDGET, *FLAG, *bomb_T, *switch_py, *local, *WorldError;

static Py_ssize_t t_greenlet, t_tempval, t_started, t_in_ring, t_blocked, t_chan;
static Py_ssize_t s_t0, s_pending_irq, s_soft_at, s_current, s_q, s_budget_base, s_slice_budget,
    s_irq, s_soft;
static Py_ssize_t d_total, d_used, d_timeout;
static Py_ssize_t b_n, b_n0, b_r;
static Py_ssize_t w_world, w_key, w_due, w_mark;
static PyObject *zero;  /* the int 0 (_blocked when not blocked) */
static PyObject *ready_py, *block_py;  /* Scheduler._ready_py, Scheduler._block_py */
/* The run queue's type, collections.deque, and the C functions of its append (METH_O) and
   popleft (METH_NOARGS) methods, called directly: a queue operation then costs neither a
   method lookup nor a descriptor call (Scheduler.q is a deque; another type takes the
   generic call). */
static PyTypeObject *Deque_T;
static PyCFunction deque_append, deque_popleft;

/* A behaviour's due and mark: C integers in BehaviourTasklet's slots (see setup_world). */
#define LL(o, off) (*(long long *)((char *)(o) + (off)))

/* greenlet's C API (greenlet/greenlet.h): slot 6 of the capsule "greenlet._C_API" is
   PyGreenlet_Switch(greenlet, args, kwargs).  Calling it directly, rather than the
   greenlet's switch() method, leaves fewer C frames on the tasklet's stack, which greenlet
   copies out and back in at every switch. */
#define GREENLET_SWITCH_NUM 6
typedef PyObject *(*greenlet_switch_fn)(PyObject *g, PyObject *args, PyObject *kwargs);
static greenlet_switch_fn greenlet_switch;
static PyTypeObject *Greenlet_T;  /* slot 0 of the capsule: PyGreenlet_Type */
static PyObject *empty_tuple;

static PyObject *str_switch, *str_popleft, *str_raise, *str_append, *str_sched,
    *str_tsd_key, *str_grid, *str_entities, *str_query_radius, *str_query_radius_py, *str_tick, *str_tick_rate, *str_sleep_until_py, *str_soon, *str_wheel, *str_wsched;

/* The offsets of n slots of tp: 1; 0 when one is no plain slot (absent, or shadowed by a
   property); -1 on an error. */
static int
slots_of(PyTypeObject *tp, const char *const *names, int n, Py_ssize_t *offs)
{
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)tp, names[i]);
        if (d == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear();
            return 0;
        }
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
        if (ok)
            offs[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok)
            return 0;
    }
    return 1;
}

/* The offset of slot `name` of tp, or -1 with TypeError when tp keeps it elsewhere. */
static Py_ssize_t
slot_offset(PyTypeObject *tp, const char *name)
{
    Py_ssize_t off;
    int found = slots_of(tp, &name, 1, &off);
    if (found == 0)
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", tp->tp_name, name);
    return found > 0 ? off : -1;
}

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

static PyTypeObject *tasklet_seen;

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

static inline long long
now_ns(void)
{
    /* time.perf_counter_ns() on Linux: CLOCK_MONOTONIC (the Python twin reads that). */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}


/* -------------------------------------------------------------------------- Core */

/* Tasklet's base: the counters the kernel updates at every switch, as C integers inside the
   tasklet itself.  As Python ints in slots, each update allocated a new int and freed the
   old one, whose memory had gone cold since the tasklet last ran: several cache misses per
   wake, most of a wake's cost with 10,000 entities.  The pure-Python twin is
   sim._kernel.tasklet._PyCore, a class with the same slots.  (The world's own counters,
   due and mark, are kept the same way in its behaviour type: see setup_world.) */
typedef struct {
    PyObject_HEAD
    long long time_ns;      /* wall ns spent running */
    long long units;        /* deterministic budget units spent */
    long long switches;     /* times switched to */
    long long preemptions;  /* times preempted */
} Core;

static PyMemberDef core_members[] = {
    {"time_ns", T_LONGLONG, offsetof(Core, time_ns), 0, "wall ns spent running"},
    {"units", T_LONGLONG, offsetof(Core, units), 0, "deterministic budget units spent"},
    {"switches", T_LONGLONG, offsetof(Core, switches), 0, "times switched to"},
    {"preemptions", T_LONGLONG, offsetof(Core, preemptions), 0, "times preempted"},
    {NULL},
};

static PyTypeObject Core_T = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sim._speedups.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_members = core_members,
    .tp_doc = "A tasklet's counters as C integers (see sim._tasklet._Core).",
};

#define CORE(o) ((Core *)(o))

/* -------------------------------------------------------------------------- switch */

/* Deterministic mode: instrumented code ran since the last switch (BUDGET.n moved) or an
   interrupt was deferred.  Scheduler._switch_py's budget branch, in two steps: read_budget
   checks that every value is a plain int (or bool) and reads them, changing nothing (0:
   something unusual, let the Python twin do the whole switch); charge_budget writes. */
typedef struct {
    long long base, n, r, slice, timeout, used;
    PyObject *irq;
    int total, soft;
} Budget;

static inline int
ll_of(PyObject *o, long long *out)
{
    if (o == NULL || !PyLong_CheckExact(o))
        return 0;
    *out = PyLong_AsLongLong(o);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 1;
}

static int
read_budget(PyObject *sched, Budget *b)
{
    int ok;
    if ((ok = ll_of(SLOT(sched, s_budget_base), &b->base)) <= 0
        || (ok = ll_of(SLOT(BUDGET, b_n), &b->n)) <= 0
        || (ok = ll_of(SLOT(BUDGET, b_r), &b->r)) <= 0
        || (ok = ll_of(SLOT(sched, s_slice_budget), &b->slice)) <= 0)
        return ok;
    PyObject *soft = SLOT(sched, s_soft);
    if (soft != Py_True && soft != Py_False)
        return 0;
    b->soft = soft == Py_True;
    b->irq = SLOT(sched, s_irq);
    if (b->irq == NULL)
        return 0;
    if (b->irq == Py_None)
        return 1;
    if (!Py_IS_TYPE(b->irq, Watchdog_T))
        return 0;
    PyObject *total = SLOT(b->irq, d_total);
    if (total != Py_True && total != Py_False)
        return 0;
    b->total = total == Py_True;
    if ((ok = ll_of(SLOT(b->irq, d_timeout), &b->timeout)) <= 0
        || (ok = ll_of(SLOT(b->irq, d_used), &b->used)) <= 0)
        return ok;
    return 1;
}

static int
charge_budget(PyObject *sched, PyObject *cur, Budget *bu)
{
    long long used = bu->base - bu->n - bu->r, b = bu->slice;
    put_borrowed(sched, s_pending_irq, Py_False);
    CORE(cur)->units += used;
    if (bu->irq != Py_None) {
        if (bu->total) {
            long long total = bu->used + used;
            if (put(bu->irq, d_used, PyLong_FromLongLong(total)) < 0)
                return -1;
            if (bu->timeout > 0 && !bu->soft) {
                long long left = bu->timeout - total;
                if (left < b)
                    b = left > 0 ? left : 0;
            }
        }
        else if (bu->timeout > 0 && !bu->soft && bu->timeout < b)
            b = bu->timeout;
    }
    long long n = b < window ? b : window;
    PyObject *base = PyLong_FromLongLong(b), *no = PyLong_FromLongLong(n);
    PyObject *r = PyLong_FromLongLong(b - n);
    if (base == NULL || no == NULL || r == NULL) {
        Py_XDECREF(base);
        Py_XDECREF(no);
        Py_XDECREF(r);
        return -1;
    }
    put(sched, s_budget_base, base);
    put_borrowed(BUDGET, b_n0, no);
    put(BUDGET, b_n, no);
    put(BUDGET, b_r, r);
    return 0;
}


/* read_budget then charge_budget (1), or nothing changed and 0 (the twin's turn), or -1.
   Out of line: its locals must not sit on the tasklet's stack when it switches (greenlet
   copies that stack out and back in at every switch). */
static __attribute__((noinline)) int
spend_budget(PyObject *sched, PyObject *cur)
{
    Budget bud;
    int ok = read_budget(sched, &bud);
    if (ok <= 0)
        return ok;
    return charge_budget(sched, cur, &bud) < 0 ? -1 : 1;
}

static __attribute__((noinline)) PyObject *
switch_slow(PyObject *sched, PyObject *cur, PyObject *nxt)
{
    n_slow++;
    PyObject *args[3] = {sched, cur, nxt};
    return PyObject_Vectorcall(switch_py, args, 3, NULL);
}

/* The greenlet this thread last switched to in do_switch (see there). */
static _Thread_local PyObject *landing;

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
    long long soft = PyLong_AsLongLong(soft_at);
    if (soft == -1 && PyErr_Occurred())
        return NULL;
    if (now >= soft)
        return switch_slow(sched, cur, nxt);
    long long t0 = PyLong_AsLongLong(t0o);
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

/* obj.<twin>(*args, **kwargs): a C entry point handing a call it does not take to its
   Python twin, as it was made (a new reference, or NULL and an exception). */
static PyObject *
call_twin(PyObject *obj, PyObject *twin_name, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames)
{
    PyObject *twin = PyObject_GetAttr(obj, twin_name);
    if (twin == NULL)
        return NULL;
    PyObject *r = PyObject_Vectorcall(twin, args, nargs, kwnames);
    Py_DECREF(twin);
    return r;
}

/* A METH_FASTCALL entry's argument check: 0 when ok, else TypeError naming the signature. */
static int
bad_args(int ok, const char *signature)
{
    if (ok)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s: wrong arguments", signature);
    return -1;
}

static PyObject *
sp_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 3, "switch(sched, cur, nxt)"))
        return NULL;
    return do_switch(args[0], args[1], args[2]);
}

/* ------------------------------------------------------------------- ready, block */

static _Thread_local PyObject *pf_list;    /* the tick's woken list (a reference) */
static _Thread_local Py_ssize_t pf_pos;    /* where in it the tick has got to */
static Py_ssize_t w_entity, e_x, e_y;  /* offsets; e_x 0 until setup_entity */
static void prefetch_ahead(PyObject *next);

/* Scheduler.ready(t): t waits on no channel and, unless queued, goes to the end of the run
   queue.  Anything unusual goes to the twin, Scheduler._ready_py. */
static PyObject *
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
   chan in direction d, unless chan is None) and the queue's head runs; with `prefetch`, a
   tick's park, the behaviours resumed after it are prefetched first.  With nothing queued
   the twin, Scheduler._block_py, does it all (next_for_block: timers, other threads,
   deadlock), before anything has changed. */
static inline __attribute__((always_inline)) PyObject *
do_block(PyObject *sched, PyObject *cur, PyObject *chan, PyObject *d, int prefetch)
{
    PyObject *q;
    Py_ssize_t len;
    if (!ready || !Py_IS_TYPE(sched, Sched_T) || !of_type(cur, Tasklet_T, &tasklet_seen)
        || (q = SLOT(sched, s_q)) == NULL || (chan != Py_None && !PyLong_CheckExact(d)))
        goto twin;
    int is_deque = Py_IS_TYPE(q, Deque_T);
    if ((len = is_deque ? Py_SIZE(q) : PyObject_Size(q)) < 0)  /* a deque's size is its length */
        return NULL;
    if (len == 0)
        goto twin;
    PyObject *next = is_deque ? deque_popleft(q, NULL) : PyObject_CallMethodNoArgs(q, str_popleft);
    if (next == NULL)
        return NULL;
    if (chan != Py_None) {
        put_borrowed(cur, t_blocked, d);
        put_borrowed(cur, t_chan, chan);
    }
    put_borrowed(cur, t_in_ring, Py_False);
    if (prefetch && pf_list != NULL && e_x)
        prefetch_ahead(next);
    PyObject *r = do_switch(sched, cur, next);
    Py_DECREF(next);
    return r;
twin:
    {
        PyObject *args[4] = {sched, cur, chan, d};
        return PyObject_Vectorcall(block_py, args, 4, NULL);
    }
}

/* ------------------------------------------------------------------- park, next_tick */

/* The calling thread's scheduler (a new reference), or NULL without an exception when the
   thread has none.  bind_thread() keeps it in the thread state's dict, a cheaper read than
   the threading.local the Python side uses (which stays the reference: it is the
   fallback). */
static PyObject *
thread_sched(void)
{
    PyObject *d = PyThreadState_GetDict();
    if (d != NULL) {
        PyObject *s = PyDict_GetItemWithError(d, str_tsd_key);
        if (s != NULL) {
            Py_INCREF(s);
            return s;
        }
        if (PyErr_Occurred())
            return NULL;
    }
    PyObject *s = PyObject_GetAttr(local, str_sched);
    if (s == NULL && PyErr_ExceptionMatches(PyExc_AttributeError))
        PyErr_Clear();
    return s;
}

/* An attribute of a plain instance (World): its __dict__ first, which skips the type's
   attribute search; getattr when it is not there (a new reference, or NULL and an
   exception). */
static inline PyObject *
inst_attr(PyObject *o, PyObject *name)
{
    PyObject **dp = _PyObject_GetDictPtr(o);
    if (dp != NULL && *dp != NULL) {
        PyObject *v = PyDict_GetItemWithError(*dp, name);
        if (v != NULL) {
            Py_INCREF(v);
            return v;
        }
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_GetAttr(o, name);
}

static PyObject *
sp_bind_thread(PyObject *self, PyObject *sched)
{
    PyObject *d = PyThreadState_GetDict();
    if (d == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "bind_thread(): no thread state dict");
        return NULL;
    }
    if (PyDict_SetItem(d, str_tsd_key, sched) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Prefetching the behaviours a tick will resume.  A resume is a cache miss on each of
   the behaviour's objects (its tasklet, greenlet and greenlet implementation, its entity
   and position floats), which a plain loop over the same entities mostly does not pay.
   The tick resumes the behaviours in the order of its woken list, one park apart (a
   think, microseconds), so each park starts the loads for the next five, one level of
   pointers per park (distance 1 is the behaviour resumed right after the next): the
   tasklet at distance 5; its greenlet and entity at 4; greenlet's implementation at 3;
   the start of the saved C stack, the top frame object and the coordinates at 2; the
   frames' data at 1.  Nothing is dereferenced before an earlier park prefetched it,
   and prefetches never fault. */
static PyTypeObject *Entity_T, *behaviour_seen;

/* An entity kind: a subclass of sim.Entity, whose grid slots (_x, _y, _key, _kind, _vx,
   _vy) are Entity's own, at Entity's offsets (Entity.__init_subclass__ refuses a kind that
   redefines one).  A world has several kinds, its records alternate between them: the
   last two seen are memoized (each memo holds a reference, so the address cannot come
   back as another type). */
static PyTypeObject *kind_seen[2];

static inline int
seen_kind(PyTypeObject *tp)
{
    return tp == Entity_T || tp == kind_seen[0] || tp == kind_seen[1];
}

static int
is_entity_type(PyTypeObject *tp)
{
    if (seen_kind(tp))
        return 1;
    if (Entity_T == NULL || !PyType_IsSubtype(tp, Entity_T))
        return 0;
    Py_INCREF(tp);
    Py_XSETREF(kind_seen[1], kind_seen[0]);
    kind_seen[0] = tp;
    return 1;
}

/* greenlet.h's PyGreenlet, whose layout is greenlet's public C API. */
typedef struct {
    PyObject_HEAD
    PyObject *weakreflist, *dict;
    void *pimpl;
} GreenletObject;

#define PF(p) __builtin_prefetch((p), 0, 3)

static inline void
pf_lines(const void *p, int n)
{
    for (int i = 0; i < n; i++)
        PF((const char *)p + 64 * i);
}

/* Where, in greenlet's implementation object, a suspended greenlet keeps its saved C stack
   and its top frame: found by setup_prefetch() on a greenlet it is shown, and checked there,
   since the layout is greenlet's own (0: not found, those loads are skipped). */
static Py_ssize_t gi_copy, gi_frame;
#define FRAME_F_FRAME (3 * sizeof(void *))  /* PyFrameObject.f_frame, CPython 3.11-3.13 */

static inline PyObject *
pf_behaviour(PyObject *l, Py_ssize_t i)
{
    PyObject *t = PyList_GET_ITEM(l, i);
    return of_type(t, Behaviour_T, &behaviour_seen) ? t : NULL;
}

static inline void *
pf_impl(PyObject *t)
{
    PyObject *g = SLOT(t, t_greenlet);
    return g != NULL && Py_IS_TYPE(g, Greenlet_T) ? ((GreenletObject *)g)->pimpl : NULL;
}

static inline PyObject *
pf_entity(PyObject *t)
{
    PyObject *e = SLOT(t, w_entity);
    return e != NULL && is_entity_type(Py_TYPE(e)) ? e : NULL;
}

static void
prefetch_ahead(PyObject *next)
{
    PyObject *l = pf_list, *t, *e, *g;
    char *impl, *f;
    Py_ssize_t n = PyList_GET_SIZE(l), i = pf_pos, end = i + 4 < n ? i + 4 : n;
    while (i < end && PyList_GET_ITEM(l, i) != next)
        i++;
    if (i == end)
        return;  /* not from the list (a soon or spawned one): nothing to do this park */
    pf_pos = ++i;
    n_prefetch++;
    if (i + 4 < n)
        pf_lines(PyList_GET_ITEM(l, i + 4), 4);
    if (i + 3 < n && (t = pf_behaviour(l, i + 3)) != NULL) {
        if ((g = SLOT(t, t_greenlet)) != NULL)
            PF(g);
        if ((e = SLOT(t, w_entity)) != NULL)
            pf_lines(e, 2);
    }
    if (i + 2 < n && (t = pf_behaviour(l, i + 2)) != NULL) {
        if ((impl = pf_impl(t)) != NULL)
            pf_lines(impl, 5);
    }
    if (i + 1 < n && (t = pf_behaviour(l, i + 1)) != NULL) {
        if ((impl = pf_impl(t)) != NULL && gi_copy) {
            if ((f = *(char **)(impl + gi_copy)) != NULL)
                pf_lines(f, 4);  /* the rest streams in as greenlet copies it back */
            if ((f = *(char **)(impl + gi_frame)) != NULL)
                pf_lines(f, 2);
        }
        if ((e = pf_entity(t)) != NULL) {
            PF(SLOT(e, e_x));
            PF(SLOT(e, e_y));
        }
    }
    if (i < n && (t = pf_behaviour(l, i)) != NULL && (impl = pf_impl(t)) != NULL && gi_copy
        && (f = *(char **)(impl + gi_frame)) != NULL
        && (f = *(char **)(f + FRAME_F_FRAME)) != NULL)
        pf_lines(f - 128, 6);  /* its frame, and the bootstrap's just below it */
}

/* t.due = due; wheel it; block (the door: leave the ring, the next runnable runs; deadlock
   raises).  On any exception (killed, thrown at while parked) t.due = 0: its wheel entry is
   stale. */
static inline __attribute__((always_inline)) PyObject *
do_park(PyObject *t, PyObject *world, PyObject *sched, long long due, long long tick)
{
    PyObject *r, *bucket;
    int rc;

    LL(t, w_due) = due;
    if (due == tick + 1) {
        bucket = inst_attr(world, str_soon);
        if (bucket == NULL)
            goto failed;
        rc = PyList_Check(bucket) ? PyList_Append(bucket, t) : -1;
        Py_DECREF(bucket);
        if (rc < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "world._soon must be a list");
            goto failed;
        }
    }
    else {
        PyObject *wheel = inst_attr(world, str_wheel);
        PyObject *key = wheel ? PyLong_FromLongLong(due) : NULL;
        if (key == NULL)
            rc = -1;
        else if (!PyDict_Check(wheel)) {
            PyErr_SetString(PyExc_TypeError, "world._wheel must be a dict");
            rc = -1;
        }
        else if ((bucket = PyDict_GetItemWithError(wheel, key)) != NULL)
            rc = PyList_Append(bucket, t);
        else if (PyErr_Occurred())
            rc = -1;
        else {
            PyObject *l = PyList_New(1);
            if (l == NULL)
                rc = -1;
            else {
                Py_INCREF(t);
                PyList_SET_ITEM(l, 0, t);
                rc = PyDict_SetItem(wheel, key, l);
                Py_DECREF(l);
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(wheel);
        if (rc < 0)
            goto failed;
    }

    r = do_block(sched, t, Py_None, zero, 1);
    if (r == NULL)
        goto failed;
    return r;

failed:
    LL(t, w_due) = 0;
    return NULL;
}


static int
as_ll(PyObject *o, long long *out)
{
    *out = PyLong_AsLongLong(o);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The running behaviour (borrowed) and, in *sched, its thread's scheduler (a new
   reference); NULL and *sched NULL when the caller is no behaviour (an exception is set
   only on a real error). */
static PyObject *
running_behaviour(PyObject **sched)
{
    *sched = thread_sched();
    if (*sched == NULL)
        return NULL;
    PyObject *t = Py_IS_TYPE(*sched, Sched_T) ? SLOT(*sched, s_current) : NULL;
    if (t == NULL || !PyObject_TypeCheck(t, Behaviour_T) || SLOT(t, w_world) == NULL) {
        Py_CLEAR(*sched);
        return NULL;
    }
    return t;
}

/* world._tick as a C integer (0, or -1 and an exception). */
static int
world_tick(PyObject *world, long long *tick)
{
    PyObject *o = inst_attr(world, str_tick);
    if (o == NULL)
        return -1;
    int rc = as_ll(o, tick);
    Py_DECREF(o);
    return rc;
}

/* park t until due (t and sched: new references it takes over, so that callers can end
   with a tail call: their C frames are then off the stack greenlet saves at the switch);
   None, or NULL and an exception. */
static PyObject *
park_until(PyObject *t, PyObject *world, PyObject *sched, long long due, long long tick)
{
    PyObject *r = do_park(t, world, sched, due, tick);
    Py_DECREF(t);
    Py_DECREF(sched);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* World.sleep_until(world, when) for a behaviour of that world given a finite float or
   int; everything else (errors included) goes to World._sleep_until_py. */
static PyObject *
sleep_until(PyObject *world, PyObject *when)
{
    PyObject *sched = NULL, *t, *o;
    double w, rate;
    long long now;
    if (!world_ready || !(PyFloat_CheckExact(when) || PyLong_CheckExact(when)))
        goto slow;
    w = PyFloat_AsDouble(when);
    if (w == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        goto slow;
    }
    if (!isfinite(w))
        goto slow;
    t = running_behaviour(&sched);
    if (t == NULL) {
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    if (SLOT(t, w_world) != world)
        goto slow;
    if ((o = inst_attr(world, str_tick_rate)) == NULL)
        goto error;
    rate = PyFloat_AsDouble(o);
    Py_DECREF(o);
    if (rate == -1.0 && PyErr_Occurred())
        goto error;
    double c = ceil(w * rate - 1e-9);
    if (!(c >= 0.0 && c < 9.0e18))
        goto slow;
    if (world_tick(world, &now) < 0)
        goto error;
    long long tick = (long long)c;
    Py_INCREF(t);
    return park_until(t, world, sched, tick > now ? tick : now + 1, now);

slow:
    Py_XDECREF(sched);
    return PyObject_CallMethodOneArg(world, str_sleep_until_py, when);
error:
    Py_XDECREF(sched);
    return NULL;
}

static PyObject *
sp_sleep_until(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 2, "sleep_until(world, when)"))
        return NULL;
    return sleep_until(args[0], args[1]);
}

static PyObject *
sp_park(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 3, "park(t, world, due)"))
        return NULL;
    PyObject *t = args[0], *world = args[1], *r = NULL;
    if (!world_ready || !PyObject_TypeCheck(t, Behaviour_T)) {
        PyErr_SetString(PyExc_TypeError, "park() needs a BehaviourTasklet (after setup_world)");
        return NULL;
    }
    long long due, tick;
    if (as_ll(args[2], &due) < 0)
        return NULL;
    PyObject *sched = inst_attr(world, str_wsched);
    if (sched != NULL && world_tick(world, &tick) == 0) {
        Py_INCREF(t);
        return park_until(t, world, sched, due, tick);
    }
    Py_XDECREF(sched);
    return r;
}

static const char not_a_behaviour[] = "next_tick() must be called from an entity behaviour";

static PyObject *
sp_next_tick(PyObject *self, PyObject *unused)
{
    if (!world_ready) {
        PyErr_SetString(PyExc_RuntimeError, "sim._speedups.setup_world() was not called");
        return NULL;
    }
    PyObject *sched, *t = running_behaviour(&sched);
    if (t == NULL)
        return PyErr_Occurred() ? NULL : PyErr_Format(WorldError, "%s", not_a_behaviour);
    PyObject *world = SLOT(t, w_world);  /* held by t, which the world's wheel holds */
    long long tick;
    if (world_tick(world, &tick) < 0) {
        Py_DECREF(sched);
        return NULL;
    }
    Py_INCREF(t);
    return park_until(t, world, sched, tick + 1, tick);
}

/* ------------------------------------------------------------------ wake, sweep */

/* The world's per-tick loops over the behaviours woken from its wheel (sim/_world_run.py,
   StepMixin._wake and _sweep, whose Python bodies are the twins). */

static PyObject *
sp_wake(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* wake(woken, tick, ready): each t in the list still due at tick: due = 0, ready(t)
       (the kernel's door).  Returns how many. */
    long long n;
    if (bad_args(nargs == 3 && PyList_Check(args[0]), "wake(woken: list, tick, ready)"))
        return NULL;
    if (as_ll(args[1], &n) < 0)
        return NULL;
    PyObject *woken = args[0], *ready_t = args[2];
    Py_ssize_t count = 0;
    Py_INCREF(woken);  /* resumed in this order: prefetch_ahead() follows it */
    Py_XSETREF(pf_list, woken);
    pf_pos = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(woken); i++) {
        PyObject *t = PyList_GET_ITEM(woken, i);
        if (!PyObject_TypeCheck(t, Behaviour_T) || LL(t, w_due) != n)
            continue;
        LL(t, w_due) = 0;
        Py_INCREF(t);
        PyObject *r = PyObject_CallOneArg(ready_t, t);
        Py_DECREF(t);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
        count++;
    }
    return PyLong_FromSsize_t(count);
}

static PyObject *
sp_sweep(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* sweep(woken, units_mode, limit, over, unparked): charge each woken behaviour with its
       work since its mark (units or ns), over[t.key] = used past limit, unparked gets those
       not parked again.  Returns the work charged in units mode (0 otherwise). */
    if (bad_args(nargs == 5 && PyList_Check(args[0]) && PyDict_Check(args[3])
                     && PyList_Check(args[4]),
                 "sweep(woken: list, units_mode, limit, over: dict, unparked: list)"))
        return NULL;
    PyObject *woken = args[0], *over = args[3], *unparked = args[4];
    if (woken == pf_list)  /* the tick is over: let its list go */
        Py_CLEAR(pf_list);
    int units = PyObject_IsTrue(args[1]);
    double limit = PyFloat_AsDouble(args[2]);
    if (units < 0 || (limit == -1.0 && PyErr_Occurred()))
        return NULL;
    long long total = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(woken); i++) {
        PyObject *t = PyList_GET_ITEM(woken, i);
        if (!PyObject_TypeCheck(t, Behaviour_T)) {
            PyErr_SetString(PyExc_TypeError, "sweep(): woken holds a non-behaviour");
            return NULL;
        }
        Core *c = CORE(t);
        long long now = units ? c->units : c->time_ns;
        long long used = now - LL(t, w_mark);
        if (used || !units) {
            LL(t, w_mark) = now;
            total += used;
            if ((double)used > limit) {
                PyObject *key = SLOT(t, w_key), *u = PyLong_FromLongLong(used);
                int rc = (key == NULL || u == NULL) ? -1 : PyDict_SetItem(over, key, u);
                Py_XDECREF(u);
                if (rc < 0) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_AttributeError, "behaviour has no key");
                    return NULL;
                }
            }
        }
        if (!LL(t, w_due) && PyList_Append(unparked, t) < 0)
            return NULL;
    }
    return PyLong_FromLongLong(units ? total : 0);
}


/* ------------------------------------------------------------------ motion */

/* Grid.move_all's loop for a wrapping grid without subscriptions (sim/_aoi.py; its Python
   body is the twin): for each (eid, record) of a dict, x = (x + vx * dt) % w (Python's
   float modulo, bit for bit: built with -ffp-contract=off), likewise y, the cell key as
   move() computes it, and relink(eid, record, key) when the cell changed (in C, see
   relink_rec()).  Records of a type without the five slots go to move(eid, x, y) instead. */

typedef struct {
    PyTypeObject *type;
    Py_ssize_t x, y, key, vx, vy;
    Py_ssize_t kind;  /* 0 if the type has no kind slot */
} Layout;

static Layout layout;  /* the last record type seen (a world's entity kind) */
static Layout entity_layout;  /* sim.Entity's, for every entity kind (see is_entity_type);
                                 set with Entity_T */
static int layout_entity;  /* layout is entity_layout, for one of the kinds */

static int
compute_layout(PyTypeObject *tp, Layout *out)
{
    /* 1: *out holds tp's offsets; 0: tp lacks a slot; -1: error */
    Layout l = {tp, 0, 0, 0, 0, 0, 0};
    const char *names[5] = {"_x", "_y", "_key", "_vx", "_vy"};
    Py_ssize_t offs[5];
    int found = slots_of(tp, names, 5, offs);
    if (found <= 0)
        return found;
    l.x = offs[0];
    l.y = offs[1];
    l.key = offs[2];
    l.vx = offs[3];
    l.vy = offs[4];
    const char *kind[1] = {"_kind"};
    found = slots_of(tp, kind, 1, offs);
    if (found < 0)
        return -1;
    l.kind = found ? offs[0] : 0;
    *out = l;
    return 1;
}

static int
layout_of(PyTypeObject *tp)
{
    /* 1: layout holds tp's offsets; 0: tp lacks a slot; -1: error */
    if (layout.type == tp)
        return 1;
    Layout l;
    int ent = is_entity_type(tp);
    if (ent) {
        l = entity_layout;
        l.type = tp;
    }
    else {
        int found = compute_layout(tp, &l);
        if (found <= 0)
            return found;
    }
    Py_INCREF(tp);
    Py_XDECREF(layout.type);
    layout = l;
    layout_entity = ent;
    return 1;
}

static inline double
pymod(double v, double w)
{
    /* float.__mod__ for w > 0 (Objects/floatobject.c, float_rem) */
    if (v > 0 && v < w)
        return v;  /* what fmod gives, without its cost: most positions stay in the world */
    double m = fmod(v, w);
    if (m) {
        if (m < 0)
            m += w;
    }
    else
        m = copysign(0.0, w);
    return m;
}

/* Store v in a slot holding a float.  When the record holds the only reference to its old
   float, nothing else can see that object, so it takes the new value in place: motion then
   allocates nothing, and a body's coordinates stay at the same addresses tick after tick
   (warm in the cache for the radius queries that read them). */
static inline int
store_float(PyObject *o, Py_ssize_t off, double v)
{
    PyObject *old = SLOT(o, off);
    if (old != NULL && Py_REFCNT(old) == 1 && PyFloat_CheckExact(old)) {
        ((PyFloatObject *)old)->ob_fval = v;
        return 0;
    }
    return put(o, off, PyFloat_FromDouble(v));
}

static PyTypeObject *Grid_T;
static PyObject *grid_query_py;  /* Grid._query_radius_py */
static PyObject *grid_relink_py;  /* Grid._relink, the function */
static double grid_eps;
static PyObject *str_nx, *str_ny, *str_w, *str_h, *str_invx, *str_invy, *str_stride,
    *str_cells, *str_kind_cells;

/* A cell dict of cells (borrowed) holding eid, or NULL. */
static PyObject *
cell_with(PyObject *cells, PyObject *key, PyObject *eid)
{
    PyObject *cell = PyDict_GetItemWithError(cells, key);
    if (cell == NULL || !PyDict_CheckExact(cell))
        return NULL;
    int has = PyDict_Contains(cell, eid);
    return has > 0 ? cell : NULL;
}

/* Out of cell[key] of cells, dropping the cell once empty (Grid._unlink). */
static int
unlink_from(PyObject *cells, PyObject *cell, PyObject *key, PyObject *eid)
{
    if (PyDict_DelItem(cell, eid) < 0)
        return -1;
    return PyDict_GET_SIZE(cell) ? 0 : PyDict_DelItem(cells, key);
}

/* cells.setdefault(key, {})[eid] = rec */
static int
link_into(PyObject *cells, PyObject *key, PyObject *eid, PyObject *rec)
{
    PyObject *cell = PyDict_GetItemWithError(cells, key);
    if (cell == NULL) {
        if (PyErr_Occurred() || (cell = PyDict_New()) == NULL)
            return -1;
        int rc = PyDict_SetItem(cells, key, cell);
        Py_DECREF(cell);  /* cells holds it */
        if (rc < 0)
            return -1;
    }
    return PyDict_SetItem(cell, eid, rec);
}

/* relink(eid, rec, key): Grid._relink (sim/_aoi.py, the twin) done here when relink is that
   method of a grid whose buckets are plain dicts holding rec where its key says, and rec (of
   the cached layout) has a kind slot; otherwise, or on an error in the lookups, the twin
   is called, before anything changes.  The same steps in the same order: out of the cell
   (and its kind's cell), key set, into the new cell (and its kind's). */
static int
relink_rec(PyObject *relink, PyObject *eid, PyObject *rec, PyObject *key)
{
    PyObject *grid = PyMethod_Check(relink) && PyMethod_GET_FUNCTION(relink) == grid_relink_py
                         ? PyMethod_GET_SELF(relink) : NULL;
    PyObject *cells = NULL, *by_kind = NULL, *kcells = NULL, *cell, *kcell = NULL, *r;
    PyObject *old = SLOT(rec, layout.key), *kind = layout.kind ? SLOT(rec, layout.kind) : NULL;
    int rc = -1;
    Py_INCREF(eid);
    Py_INCREF(rec);
    if (grid == NULL || kind == NULL || old == NULL
        || (cells = inst_attr(grid, str_cells)) == NULL || !PyDict_CheckExact(cells)
        || (cell = cell_with(cells, old, eid)) == NULL)
        goto twin;
    if (kind != Py_None) {
        if ((by_kind = inst_attr(grid, str_kind_cells)) == NULL || !PyDict_CheckExact(by_kind)
            || (kcells = PyDict_GetItemWithError(by_kind, kind)) == NULL
            || !PyDict_CheckExact(kcells) || kcells == cells
            || (kcell = cell_with(kcells, old, eid)) == NULL)
            goto twin;
    }
    Py_INCREF(old);  /* the key of the cells it leaves, until they are left */
    Py_XINCREF(kcells);
    rc = unlink_from(cells, cell, old, eid);
    if (rc == 0 && kcell != NULL)
        rc = unlink_from(kcells, kcell, old, eid);
    Py_DECREF(old);
    if (rc == 0) {
        Py_INCREF(key);
        rc = put(rec, layout.key, key);
    }
    if (rc == 0)
        rc = link_into(cells, key, eid, rec);
    if (rc == 0 && kcells != NULL)
        rc = link_into(kcells, key, eid, rec);
    Py_XDECREF(kcells);
    n_relink += rc == 0;
    goto done;
twin:
    PyErr_Clear();  /* the twin meets the same error, if any, and raises it */
    {
        PyObject *a[3] = {eid, rec, key};
        r = PyObject_Vectorcall(relink, a, 3, NULL);
        rc = r == NULL ? -1 : 0;
        Py_XDECREF(r);
    }
done:
    Py_XDECREF(cells);
    Py_XDECREF(by_kind);
    Py_DECREF(eid);
    Py_DECREF(rec);
    return rc;
}

#define MOVE_AHEAD 8

static PyObject *
sp_move_wrapped(PyObject *self, PyObject *args)
{
    PyObject *bodies, *relink, *move;
    double dt, w, h, invx, invy;
    long long nx, ny;
    if (!PyArg_ParseTuple(args, "O!dddddLLOO:move_wrapped", &PyDict_Type, &bodies, &dt, &w,
                          &h, &invx, &invy, &nx, &ny, &relink, &move))
        return NULL;
    if (!(w > 0 && h > 0 && nx > 0 && ny > 0)) {
        PyErr_SetString(PyExc_ValueError, "move_wrapped(): needs a wrapping grid");
        return NULL;
    }
    Py_ssize_t pos = 0, far = 0, near = 0;
    PyObject *eid, *b, *e2, *b2;
    /* Two cursors run ahead of the loop, prefetching: the record MOVE_AHEAD entries on,
       then, half way, the floats and key of the record it prefetched (one of the cached
       layout's type, or another entity kind; its slots are held, so prefetching them is
       safe). */
    for (int k = 0; k < MOVE_AHEAD && PyDict_Next(bodies, &far, &e2, &b2); k++)
        pf_lines(b2, 2);
    for (int k = 0; k < MOVE_AHEAD / 2 && PyDict_Next(bodies, &near, &e2, &b2); k++)
        ;
    while (PyDict_Next(bodies, &pos, &eid, &b)) {
        if (PyDict_Next(bodies, &far, &e2, &b2))
            pf_lines(b2, 2);
        if (PyDict_Next(bodies, &near, &e2, &b2)
            && (Py_IS_TYPE(b2, layout.type) || (layout_entity && is_entity_type(Py_TYPE(b2))))) {
            PF(SLOT(b2, layout.x));
            PF(SLOT(b2, layout.y));
            PF(SLOT(b2, layout.vx));
            PF(SLOT(b2, layout.vy));
            PF(SLOT(b2, layout.key));
        }
        int ok = layout_of(Py_TYPE(b));
        if (ok < 0)
            return NULL;
        PyObject *xo = ok ? SLOT(b, layout.x) : NULL, *yo = ok ? SLOT(b, layout.y) : NULL;
        PyObject *vxo = ok ? SLOT(b, layout.vx) : NULL, *vyo = ok ? SLOT(b, layout.vy) : NULL;
        PyObject *ko = ok ? SLOT(b, layout.key) : NULL;
        if (xo == NULL || yo == NULL || vxo == NULL || vyo == NULL || ko == NULL
            || !PyFloat_CheckExact(xo) || !PyFloat_CheckExact(yo)
            || !PyFloat_CheckExact(vxo) || !PyFloat_CheckExact(vyo) || !PyLong_CheckExact(ko)) {
            /* not a plain record: the Python way, same arithmetic */
            Py_INCREF(eid);
            Py_INCREF(b);
            PyObject *nxo = NULL, *nyo = NULL, *r = NULL;
            PyObject *bx = PyObject_GetAttrString(b, "_x"), *bvx = PyObject_GetAttrString(b, "_vx");
            PyObject *by = PyObject_GetAttrString(b, "_y"), *bvy = PyObject_GetAttrString(b, "_vy");
            if (bx && bvx && by && bvy) {
                PyObject *dto = PyFloat_FromDouble(dt), *t1 = NULL, *t2 = NULL;
                if (dto && (t1 = PyNumber_Multiply(bvx, dto)) && (nxo = PyNumber_Add(bx, t1))
                    && (t2 = PyNumber_Multiply(bvy, dto)) && (nyo = PyNumber_Add(by, t2))) {
                    PyObject *margs[3] = {eid, nxo, nyo};
                    r = PyObject_Vectorcall(move, margs, 3, NULL);
                }
                Py_XDECREF(dto);
                Py_XDECREF(t1);
                Py_XDECREF(t2);
            }
            Py_XDECREF(bx);
            Py_XDECREF(bvx);
            Py_XDECREF(by);
            Py_XDECREF(bvy);
            Py_XDECREF(nxo);
            Py_XDECREF(nyo);
            Py_DECREF(eid);
            Py_DECREF(b);
            if (r == NULL)
                return NULL;
            Py_DECREF(r);
            continue;
        }
        double x = pymod(PyFloat_AS_DOUBLE(xo) + PyFloat_AS_DOUBLE(vxo) * dt, w);
        double y = pymod(PyFloat_AS_DOUBLE(yo) + PyFloat_AS_DOUBLE(vyo) * dt, h);
        long long cx = (long long)(x * invx), cy = (long long)(y * invy);
        long long key = (cx < nx ? cx : nx - 1) * ny + (cy < ny ? cy : ny - 1);
        if (store_float(b, layout.x, x) < 0 || store_float(b, layout.y, y) < 0)
            return NULL;
        long long old = PyLong_AsLongLong(ko);
        if (old == -1 && PyErr_Occurred())
            return NULL;
        if (key != old) {
            PyObject *k = PyLong_FromLongLong(key);
            if (k == NULL)
                return NULL;
            int rc = relink_rec(relink, eid, b, k);
            Py_DECREF(k);
            if (rc < 0)
                return NULL;
        }
    }
    Py_RETURN_NONE;
}


/* ------------------------------------------------------------------ grid queries */

/* Grid.query_radius(grid, x, y, r, kind=None, exclude=None) (sim/_aoi.py; the twin is
   Grid._query_radius_py), the world's AOI query and the arena's hottest loop: the cells the
   disc touches, each record's squared distance against r * r, the ids sorted.  Done here
   when the grid is a Grid, x, y and r are floats (or ints a double holds exactly, r below
   2**26 so that r * r is exact too), kind is None or a str, exclude is None or an int, and
   each record in the cells the disc touches keeps float x and y in slots and has an int id.
   A disc across a wrapping grid's seam is done here too, the twin's way (_scan).  Anything
   else goes to the twin; nothing is changed before that choice (the result list is all
   this builds).  The arithmetic is the twin's, in the same order
   (built with -ffp-contract=off), so the two agree bit for bit. */

/* x and y slot offsets of the record types seen lately (other than entity kinds). */
static struct {
    PyTypeObject *type;
    Py_ssize_t x, y;
} xy_cache[4];
static int xy_next;

static int
xy_of(PyTypeObject *tp, Py_ssize_t *xo, Py_ssize_t *yo)
{
    /* 1: offsets found; 0: tp keeps x or y elsewhere (the twin's business); -1: error */
    if (seen_kind(tp)) {  /* first: it runs for every cell entry a query reads */
        *xo = e_x;
        *yo = e_y;
        return 1;
    }
    for (int i = 0; i < 4; i++) {
        if (xy_cache[i].type == tp) {
            *xo = xy_cache[i].x;
            *yo = xy_cache[i].y;
            return 1;
        }
    }
    if (is_entity_type(tp)) {
        *xo = e_x;
        *yo = e_y;
        return 1;
    }
    Py_ssize_t offs[2];
    const char *names[2] = {"_x", "_y"};
    int found = slots_of(tp, names, 2, offs);
    if (found <= 0)
        return found;
    int i = xy_next++ & 3;
    Py_INCREF(tp);
    Py_XSETREF(xy_cache[i].type, tp);
    xy_cache[i].x = *xo = offs[0];
    xy_cache[i].y = *yo = offs[1];
    return 1;
}

/* A float, or an int within +-limit, as a double; 0 when o is anything else. */
static int
exact_double(PyObject *o, double limit, double *v)
{
    if (PyFloat_CheckExact(o)) {
        *v = PyFloat_AS_DOUBLE(o);
        return 1;
    }
    if (PyLong_CheckExact(o)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || (double)i > limit || (double)i < -limit)
            return 0;
        *v = (double)i;
        return 1;
    }
    return 0;
}

/* A grid attribute that must be a float / an int; 0 when it is not (the twin decides). */
static int
attr_double(PyObject *grid, PyObject *name, double *v)
{
    PyObject *o = inst_attr(grid, name);
    if (o == NULL)
        return -1;
    int ok = PyFloat_CheckExact(o);
    if (ok)
        *v = PyFloat_AS_DOUBLE(o);
    Py_DECREF(o);
    return ok;
}

static int
attr_ll(PyObject *grid, PyObject *name, long long *v)
{
    PyObject *o = inst_attr(grid, name);
    if (o == NULL)
        return -1;
    int ok = PyLong_CheckExact(o);
    if (ok) {
        int overflow;
        *v = PyLong_AsLongLongAndOverflow(o, &overflow);
        ok = !overflow && *v >= 0 && *v <= (1LL << 32);
    }
    Py_DECREF(o);
    return ok;
}

/* A hit of a radius query: the id (as a C integer, for sorting, and the object), and the
   record, both held (building the result list may run a collection, and a finalizer could
   change the grid).  Up to 64 on the C stack, more on the heap. */
typedef struct {
    long long id;
    PyObject *idobj, *rec;
} Hit;

typedef struct {
    Hit *v;
    Py_ssize_t n, cap;
    Hit small[64];
} Hits;

static void
hits_init(Hits *h)
{
    h->v = h->small;
    h->n = 0;
    h->cap = 64;
}

static void
hits_release(Hits *h)
{
    if (h->v != h->small)
        PyMem_Free(h->v);
}

static void
hits_free(Hits *h)
{
    for (Py_ssize_t i = 0; i < h->n; i++) {
        Py_DECREF(h->v[i].idobj);
        Py_DECREF(h->v[i].rec);
    }
    hits_release(h);
}

static int
hits_push(Hits *h, long long id, PyObject *idobj, PyObject *rec)
{
    if (h->n == h->cap) {
        Hit *v = PyMem_Malloc(2 * h->cap * sizeof(Hit));
        if (v == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(v, h->v, h->n * sizeof(Hit));
        hits_release(h);
        h->v = v;
        h->cap *= 2;
    }
    Py_INCREF(idobj);
    Py_INCREF(rec);
    h->v[h->n++] = (Hit){id, idobj, rec};
    return 0;
}

static int
hit_cmp(const void *a, const void *b)
{
    long long x = ((const Hit *)a)->id, y = ((const Hit *)b)->id;
    return (x > y) - (x < y);
}

/* By id, as the twin's out.sort() orders int ids (they are unique). */
static void
hits_sort(Hits *h)
{
    Hit *v = h->v;
    if (h->n > 32) {
        qsort(v, h->n, sizeof(Hit), hit_cmp);
        return;
    }
    for (Py_ssize_t i = 1; i < h->n; i++) {
        Hit t = v[i];
        Py_ssize_t j = i;
        for (; j > 0 && v[j - 1].id > t.id; j--)
            v[j] = v[j - 1];
        v[j] = t;
    }
}

#define CELL_LIMIT 1073741824.0  /* 2**30 cells either way: keys fit a long long */

/* A radius query, for scan_cell(). */
typedef struct {
    double x, y, r2, w, h, hw, hh;
    int seam, has_ex;
    long long exv;
} Disc;

/* The hits of one cell: 1, or 0 for the twin (a record or id of another shape), or -1. */
static int
scan_cell(PyObject *cell, const Disc *q, Hits *hits)
{
    if (!PyDict_CheckExact(cell))
        return 0;
    Py_ssize_t pos = 0;
    PyObject *id, *rec;
    while (PyDict_Next(cell, &pos, &id, &rec)) {
        Py_ssize_t xoff, yoff;
        int found = xy_of(Py_TYPE(rec), &xoff, &yoff);
        if (found <= 0)
            return found;
        PyObject *px = SLOT(rec, xoff), *py = SLOT(rec, yoff);
        if (px == NULL || py == NULL || !PyFloat_CheckExact(px) || !PyFloat_CheckExact(py))
            return 0;
        double dx, dy;
        if (q->seam) {
            dx = fabs(PyFloat_AS_DOUBLE(px) - q->x);
            dy = fabs(PyFloat_AS_DOUBLE(py) - q->y);
            if (dx > q->hw)
                dx = q->w - dx;
            if (dy > q->hh)
                dy = q->h - dy;
        }
        else {
            dx = PyFloat_AS_DOUBLE(px) - q->x;
            dy = PyFloat_AS_DOUBLE(py) - q->y;
        }
        if (!(dx * dx + dy * dy <= q->r2))
            continue;  /* (before the id is read: most are misses, and their ids cold) */
        if (!PyLong_CheckExact(id))
            return 0;
        int overflow;
        long long idv = PyLong_AsLongLongAndOverflow(id, &overflow);
        if (overflow)
            return 0;
        if (q->has_ex && idv == q->exv)
            continue;  /* ids are unique: the twin's out.remove(exclude) */
        if (hits_push(hits, idv, id, rec) < 0)
            return -1;
    }
    return 1;
}

/* A query's cells are looked up first, their dicts prefetched, then their key tables, and
   only then scanned: the loads of all its cells overlap, where scanning each cell as it is
   found waits for its dict, then its table, one cell after another.  (Up to MAX_BATCH
   cells; a bigger square is scanned as found.) */
#define MAX_BATCH 36

static int
batch_scan(PyObject **cellv, int nc, const Disc *q, Hits *hits)
{
    for (int k = 0; k < nc; k++) {
        if (PyDict_CheckExact(cellv[k])) {  /* header, indices, then 24-byte entries */
            Py_ssize_t lines = 1 + (16 + 24 * PyDict_GET_SIZE(cellv[k]) + 63) / 64;
            pf_lines(((PyDictObject *)cellv[k])->ma_keys, lines < 8 ? (int)lines : 8);
        }
    }
    for (int k = 0; k < nc; k++) {
        int rc = scan_cell(cellv[k], q, hits);
        if (rc <= 0)
            return rc;
    }
    return 1;
}

/* The fast path of Grid.query_radius: the hits, sorted by id.  1: done; 0: the twin's
   business (nothing was changed); -1: an error. */
static int
scan(PyObject *grid, PyObject *xo, PyObject *yo, PyObject *ro, PyObject *kind, PyObject *ex,
     Hits *hits)
{
    double x, y, r, w = 0, h = 0, invx, invy;
    long long nx, ny, stride, exv = 0;
    int ok, has_ex = 0;
    if (Py_TYPE(grid) != Grid_T || !(kind == Py_None || PyUnicode_CheckExact(kind))
        || !(ex == Py_None || PyLong_CheckExact(ex))
        || !exact_double(xo, 9007199254740992.0, &x) || !exact_double(yo, 9007199254740992.0, &y)
        || !exact_double(ro, 67108864.0, &r))
        return 0;
    if (ex != Py_None) {
        int overflow;
        exv = PyLong_AsLongLongAndOverflow(ex, &overflow);
        has_ex = !overflow;  /* an int beyond a long long matches no id seen here */
    }
    if ((ok = attr_ll(grid, str_nx, &nx)) <= 0 || (ok = attr_ll(grid, str_ny, &ny)) <= 0
        || (ok = attr_ll(grid, str_stride, &stride)) <= 0
        || (ok = attr_double(grid, str_invx, &invx)) <= 0
        || (ok = attr_double(grid, str_invy, &invy)) <= 0
        || (nx && ((ok = attr_double(grid, str_w, &w)) <= 0
                   || (ok = attr_double(grid, str_h, &h)) <= 0)))
        return ok;
    PyObject *cells;
    if (kind == Py_None) {
        if ((cells = inst_attr(grid, str_cells)) == NULL)
            return -1;
    }
    else {
        PyObject *by_kind = inst_attr(grid, str_kind_cells);
        if (by_kind == NULL)
            return -1;
        if (!PyDict_CheckExact(by_kind)) {
            Py_DECREF(by_kind);
            return 0;
        }
        cells = PyDict_GetItemWithError(by_kind, kind);
        Py_XINCREF(cells);
        Py_DECREF(by_kind);
        if (cells == NULL)
            return PyErr_Occurred() ? -1 : 1;  /* no entity of that kind */
    }
    int rc = 0;
    if (!PyDict_CheckExact(cells))
        goto done;
    rc = 1;
    if (PyDict_GET_SIZE(cells) == 0)
        goto done;
    rc = 0;
    if (nx) {
        x = pymod(x, w);
        y = pymod(y, h);
    }
    double fa = floor((x - r) * invx - grid_eps), fb = floor((x + r) * invx + grid_eps);
    double fc = floor((y - r) * invy - grid_eps), fd = floor((y + r) * invy + grid_eps);
    if (!(fabs(fa) < CELL_LIMIT && fabs(fb) < CELL_LIMIT && fabs(fc) < CELL_LIMIT
          && fabs(fd) < CELL_LIMIT))
        goto done;  /* NaN and infinities too: the twin raises as Python does */
    long long a = (long long)fa, b = (long long)fb, c = (long long)fc, d = (long long)fd;
    /* A disc that crosses a wrapping grid's seam (or spans half of it) takes distances the
       short way round, over the cells' indices modulo the grid (each cell once): the
       twin's _scan and _axis. */
    int seam = nx && (a < 0 || c < 0 || b >= nx || d >= ny || 2 * (b - a + 1) >= nx
                      || 2 * (d - c + 1) >= ny);
    long long ncols = b - a + 1, nrows = d - c + 1;
    if (seam && ncols >= nx) {
        a = 0;
        ncols = nx;
    }
    if (seam && nrows >= ny) {
        c = 0;
        nrows = ny;
    }
    Disc q = {x, y, r * r, w, h, w * 0.5, h * 0.5, seam, has_ex, exv};
    if ((double)ncols * (double)nrows > (double)PyDict_GET_SIZE(cells)) {
        /* More cells in the square than occupied ones (a huge radius): every occupied cell.
           The distance alone decides, as in the cells the square covers. */
        Py_ssize_t pos = 0;
        PyObject *key, *cell;
        while (PyDict_Next(cells, &pos, &key, &cell)) {
            if ((rc = scan_cell(cell, &q, hits)) <= 0)
                goto done;
        }
    }
    else {
        PyObject *cellv[MAX_BATCH];
        int nc = 0, batch = ncols * nrows <= MAX_BATCH;
        rc = 1;
        for (long long i = 0; rc > 0 && i < ncols; i++) {
            long long cx = seam ? ((a + i) % nx + nx) % nx : a + i;
            long long base = cx * stride;
            for (long long j = 0; j < nrows; j++) {
                long long cy = seam ? ((c + j) % ny + ny) % ny : c + j;
                PyObject *key = PyLong_FromLongLong(base + cy);
                PyObject *cell = key ? PyDict_GetItemWithError(cells, key) : NULL;
                Py_XDECREF(key);
                if (cell == NULL) {
                    if (PyErr_Occurred()) {
                        rc = -1;
                        break;
                    }
                    continue;
                }
                if (batch) {
                    PF(cell);
                    Py_INCREF(cell);
                    cellv[nc++] = cell;
                }
                else if ((rc = scan_cell(cell, &q, hits)) <= 0)
                    break;
            }
        }
        if (batch && rc > 0)
            rc = batch_scan(cellv, nc, &q, hits);
        for (int k = 0; k < nc; k++)
            Py_DECREF(cellv[k]);
        if (rc <= 0)
            goto done;
    }
    hits_sort(hits);
    rc = 1;
done:
    Py_DECREF(cells);
    return rc;
}

static int
grid_scan(PyObject *grid, PyObject *xo, PyObject *yo, PyObject *ro, PyObject *kind,
          PyObject *ex, Hits *hits)
{
    int rc = scan(grid, xo, yo, ro, kind, ex, hits);
    if (rc == 0)
        n_grid_slow++;
    else if (rc > 0)
        n_grid_fast++;
    return rc;
}

/* query_radius with the arguments in order (grid, x, y, r, kind, exclude). */
static PyObject *
grid_query(PyObject *const *a)
{
    Hits h;
    hits_init(&h);
    int rc = grid_scan(a[0], a[1], a[2], a[3], a[4], a[5], &h);
    PyObject *out = NULL;
    if (rc > 0 && (out = PyList_New(h.n)) != NULL) {
        for (Py_ssize_t i = 0; i < h.n; i++) {
            Py_INCREF(h.v[i].idobj);
            PyList_SET_ITEM(out, i, h.v[i].idobj);
        }
    }
    hits_free(&h);
    if (rc == 0)
        return PyObject_Vectorcall(grid_query_py, a, 6, NULL);
    return out;
}

static PyObject *
sp_grid_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[6] = {NULL, NULL, NULL, NULL, Py_None, Py_None};
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (grid_query_py == NULL) {
        PyErr_SetString(PyExc_TypeError, "grid_query(): call setup_grid() first");
        return NULL;
    }
    if (nargs < 4 || nargs > 6)
        goto twin;
    for (Py_ssize_t i = 0; i < nargs; i++)
        a[i] = args[i];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(k, "kind") == 0 && nargs <= 4)
            a[4] = args[nargs + i];
        else if (PyUnicode_CompareWithASCIIString(k, "exclude") == 0 && nargs <= 5)
            a[5] = args[nargs + i];
        else
            goto twin;
    }
    return grid_query(a);
twin:
    return PyObject_Vectorcall(grid_query_py, args, nargs, kwnames);
}

static PyObject *
sp_setup_grid(PyObject *self, PyObject *args)
{
    PyTypeObject *grid;
    double eps;
    if (!PyArg_ParseTuple(args, "O!d:setup_grid", &PyType_Type, &grid, &eps))
        return NULL;
    PyObject *twin = PyObject_GetAttrString((PyObject *)grid, "_query_radius_py");
    if (twin == NULL)
        return NULL;
    PyObject *relink = PyObject_GetAttrString((PyObject *)grid, "_relink");
    if (relink == NULL) {
        Py_DECREF(twin);
        return NULL;
    }
    Py_INCREF(grid);
    Py_XSETREF(Grid_T, grid);
    Py_XSETREF(grid_query_py, twin);
    Py_XSETREF(grid_relink_py, relink);
    grid_eps = eps;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ query_radius */

static Py_ssize_t e_id;

/* world._entities[id], borrowed (NULL and KeyError when absent): the twin's mapping. */
static PyObject *
entity_of(PyObject *ents, PyObject *id)
{
    PyObject *e = PyDict_GetItemWithError(ents, id);
    if (e == NULL && !PyErr_Occurred())
        PyErr_SetObject(PyExc_KeyError, id);
    return e;
}

/* World.query_radius(world, pos, r, kind=None, *, exclude=None) when pos is a tuple or list
   of two and exclude is None, an int or an entity; anything else (errors included) goes to
   the twin, World._query_radius_py.  Scans a Grid here (grid_scan), whose hits are the
   entities themselves; another grid's query_radius gives ids, mapped to entities. */
static PyObject *
sp_query_radius(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *world, *pos, *r, *kind = Py_None, *exclude = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (Entity_T == NULL || nargs < 3 || nargs > 4)
        goto slow;
    world = args[0];
    pos = args[1];
    r = args[2];
    if (nargs == 4)
        kind = args[3];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(k, "exclude") == 0)
            exclude = args[nargs + i];
        else if (PyUnicode_CompareWithASCIIString(k, "kind") == 0 && nargs == 3)
            kind = args[nargs + i];
        else
            goto slow;
    }
    PyObject *x, *y;
    if (PyTuple_CheckExact(pos) && PyTuple_GET_SIZE(pos) == 2) {
        x = PyTuple_GET_ITEM(pos, 0);
        y = PyTuple_GET_ITEM(pos, 1);
    }
    else if (PyList_CheckExact(pos) && PyList_GET_SIZE(pos) == 2) {
        x = PyList_GET_ITEM(pos, 0);
        y = PyList_GET_ITEM(pos, 1);
    }
    else
        goto slow;
    PyObject *ex;
    if (exclude == Py_None || PyLong_CheckExact(exclude))
        ex = exclude;
    else if (is_entity_type(Py_TYPE(exclude)) && SLOT(exclude, e_id) != NULL)
        ex = SLOT(exclude, e_id);
    else
        goto slow;

    PyObject *grid = inst_attr(world, str_grid);
    if (grid == NULL)
        return NULL;
    PyObject *ents = inst_attr(world, str_entities);
    if (ents == NULL || !PyDict_Check(ents)) {
        if (ents != NULL || !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "query_radius(): world._entities is no dict");
        Py_XDECREF(ents);
        Py_DECREF(grid);
        return NULL;
    }
    PyObject *out = NULL;
    Hits h;
    hits_init(&h);
    int rc = Grid_T != NULL && Py_TYPE(grid) == Grid_T
        ? grid_scan(grid, x, y, r, kind, ex, &h) : 0;
    if (rc > 0 && (out = PyList_New(h.n)) != NULL) {
        /* An entity is its own record; any other record, the dict, the twin's way. */
        for (Py_ssize_t i = 0; i < h.n; i++) {
            PyObject *e = h.v[i].rec;
            if (!is_entity_type(Py_TYPE(e)) && (e = entity_of(ents, h.v[i].idobj)) == NULL) {
                Py_CLEAR(out);
                break;
            }
            Py_INCREF(e);
            PyList_SET_ITEM(out, i, e);
        }
    }
    hits_free(&h);
    if (rc != 0) {
        Py_DECREF(grid);
        Py_DECREF(ents);
        return out;
    }
    /* The grid's own query_radius (a subclass's; for a Grid whose scan declined, the twin
       straight away rather than a second scan), then the ids mapped to entities. */
    Py_INCREF(x);
    Py_INCREF(y);
    Py_INCREF(ex);
    PyObject *qargs[7] = {NULL, grid, x, y, r, kind, ex};  /* [0]: room for the offset */
    PyObject *ids = Grid_T != NULL && Py_TYPE(grid) == Grid_T
        ? PyObject_Vectorcall(grid_query_py, qargs + 1, 6, NULL)
        : PyObject_VectorcallMethod(str_query_radius, qargs + 1,
                                    6 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(x);
    Py_DECREF(y);
    Py_DECREF(ex);
    Py_DECREF(grid);
    if (ids == NULL || !PyList_CheckExact(ids)) {
        if (ids != NULL)
            PyErr_SetString(PyExc_TypeError, "query_radius(): the grid gave no list of ids");
        Py_XDECREF(ids);
        Py_DECREF(ents);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(ids);
    out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *e = entity_of(ents, PyList_GET_ITEM(ids, i));
        if (e == NULL) {
            Py_CLEAR(out);
            break;
        }
        Py_INCREF(e);
        PyList_SET_ITEM(out, i, e);
    }
    Py_DECREF(ents);
    Py_DECREF(ids);
    return out;

slow:  /* the twin, with the same arguments */
    if (nargs == 0) {
        PyErr_SetString(PyExc_TypeError, "query_radius() needs the world");
        return NULL;
    }
    return call_twin(args[0], str_query_radius_py, args + 1, nargs - 1, kwnames);
}

static PyObject *
sp_setup_entity(PyObject *self, PyObject *args)
{
    PyTypeObject *entity;
    if (!PyArg_ParseTuple(args, "O!:setup_entity", &PyType_Type, &entity))
        return NULL;
    Py_ssize_t id = slot_offset(entity, "id"), x = slot_offset(entity, "_x");
    Py_ssize_t y = slot_offset(entity, "_y");
    if (id < 0 || x < 0 || y < 0)
        return NULL;
    Layout l;
    int found = compute_layout(entity, &l);
    if (found <= 0) {
        if (found == 0)
            PyErr_SetString(PyExc_TypeError, "setup_entity(): no grid record slots");
        return NULL;
    }
    Py_INCREF(entity);
    Py_XSETREF(Entity_T, entity);
    l.type = entity;  /* borrowed: Entity_T holds it */
    entity_layout = l;
    e_x = x;
    e_y = y;
    e_id = id;
    Py_RETURN_NONE;
}

/* -------------------------------------------------------------------------- pair */

/* A data descriptor: obj.<name> is (obj.<a>, obj.<b>), two slots of obj; assigning calls
   the Python setter.  Built from the slots' member descriptors (see pair()). */
typedef struct {
    PyObject_HEAD
    PyTypeObject *owner;   /* the class whose slots these are */
    Py_ssize_t a, b;
    PyObject *fset, *name, *doc;
    /* vel: a tuple of two finite floats is stored here, in C, and the entity's id is put
       in (or taken out of) its world's dict `moving` when alive; else fset does it all */
    PyObject *moving;
    Py_ssize_t e_alive, e_world, e_id;
    PyTypeObject *seen;  /* the last subclass of owner seen (see of_type) */
} Pair;

static void
pair_dealloc(Pair *p)
{
    PyObject_GC_UnTrack(p);
    Py_XDECREF(p->owner);
    Py_XDECREF(p->fset);
    Py_XDECREF(p->name);
    Py_XDECREF(p->doc);
    Py_XDECREF(p->moving);
    Py_XDECREF(p->seen);
    PyObject_GC_Del(p);
}

static int
pair_traverse(Pair *p, visitproc visit, void *arg)
{
    Py_VISIT(p->owner);
    Py_VISIT(p->fset);
    Py_VISIT(p->seen);
    return 0;
}

static PyObject *
pair_get(PyObject *self, PyObject *obj, PyObject *type)
{
    Pair *p = (Pair *)self;
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    if (!of_type(obj, p->owner, &p->seen)) {
        PyErr_Format(PyExc_TypeError, "descriptor '%U' for '%s' objects doesn't apply to a "
                     "'%s' object", p->name, p->owner->tp_name, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyObject *x = SLOT(obj, p->a), *y = SLOT(obj, p->b);
    if (x == NULL || y == NULL) {
        PyErr_Format(PyExc_AttributeError, "'%s' object has no attribute '%U'",
                     Py_TYPE(obj)->tp_name, p->name);
        return NULL;
    }
    PyObject *t = PyTuple_New(2);
    if (t == NULL)
        return NULL;
    Py_INCREF(x);
    Py_INCREF(y);
    PyTuple_SET_ITEM(t, 0, x);
    PyTuple_SET_ITEM(t, 1, y);
    return t;
}

static int
pair_set_fast(Pair *p, PyObject *obj, PyObject *value)
{
    /* 1 done, 0 not applicable (the Python setter decides), -1 error */
    if (!PyTuple_CheckExact(value) || PyTuple_GET_SIZE(value) != 2
        || !of_type(obj, p->owner, &p->seen))
        return 0;
    PyObject *x = PyTuple_GET_ITEM(value, 0), *y = PyTuple_GET_ITEM(value, 1);
    if (!PyFloat_CheckExact(x) || !PyFloat_CheckExact(y))
        return 0;
    double vx = PyFloat_AS_DOUBLE(x), vy = PyFloat_AS_DOUBLE(y);
    if (!isfinite(vx) || !isfinite(vy))
        return 0;
    PyObject *alive = SLOT(obj, p->e_alive), *world = SLOT(obj, p->e_world),
             *id = SLOT(obj, p->e_id);
    if (alive == NULL || world == NULL || id == NULL)
        return 0;
    put_borrowed(obj, p->a, x);
    put_borrowed(obj, p->b, y);
    if (alive != Py_True)
        return 1;
    PyObject *moving = PyObject_GetAttr(world, p->moving);
    if (moving == NULL)
        return -1;
    int rc;
    if (!PyDict_Check(moving)) {
        PyErr_Format(PyExc_TypeError, "world.%U must be a dict", p->moving);
        rc = -1;
    }
    else if (vx != 0.0 || vy != 0.0)
        rc = PyDict_SetItem(moving, id, obj);
    else {
        rc = PyDict_DelItem(moving, id);
        if (rc < 0 && PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            rc = 0;
        }
    }
    Py_DECREF(moving);
    return rc < 0 ? -1 : 1;
}

static int
pair_set(PyObject *self, PyObject *obj, PyObject *value)
{
    Pair *p = (Pair *)self;
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "can't delete attribute '%U'", p->name);
        return -1;
    }
    if (p->moving != NULL) {
        int done = pair_set_fast(p, obj, value);
        if (done)
            return done < 0 ? -1 : 0;
    }
    PyObject *args[2] = {obj, value};
    PyObject *r = PyObject_Vectorcall(p->fset, args, 2, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static PyMemberDef pair_members[] = {
    {"__doc__", T_OBJECT, offsetof(Pair, doc), READONLY, NULL},
    {NULL},
};

static PyTypeObject Pair_T = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sim._speedups.pair",
    .tp_basicsize = sizeof(Pair),
    .tp_dealloc = (destructor)pair_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)pair_traverse,
    .tp_descr_get = pair_get,
    .tp_descr_set = pair_set,
    .tp_members = pair_members,
    .tp_doc = "Two slots of a slot, read as a tuple; assignment calls a Python setter.",
};

static PyObject *
sp_pair(PyObject *self, PyObject *args)
{
    PyTypeObject *owner;
    const char *a, *b;
    PyObject *fset, *name, *doc, *moving = Py_None;
    if (!PyArg_ParseTuple(args, "O!ssOUO|O:pair", &PyType_Type, &owner, &a, &b, &fset, &name,
                          &doc, &moving))
        return NULL;
    Py_ssize_t ao, bo, alive = 0, world = 0, id = 0;
    if ((ao = slot_offset(owner, a)) < 0 || (bo = slot_offset(owner, b)) < 0)
        return NULL;
    if (moving != Py_None
        && (!PyUnicode_Check(moving) || (alive = slot_offset(owner, "_alive")) < 0
            || (world = slot_offset(owner, "world")) < 0 || (id = slot_offset(owner, "id")) < 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "pair(): moving must be an attribute name");
        return NULL;
    }
    if (!PyCallable_Check(fset)) {
        PyErr_SetString(PyExc_TypeError, "pair(): the setter must be callable");
        return NULL;
    }
    Pair *p = PyObject_GC_New(Pair, &Pair_T);
    if (p == NULL)
        return NULL;
    Py_INCREF(owner);
    Py_INCREF(fset);
    Py_INCREF(name);
    Py_INCREF(doc);
    p->owner = owner;
    p->a = ao;
    p->b = bo;
    p->fset = fset;
    p->name = name;
    p->doc = doc;
    p->seen = NULL;
    p->moving = NULL;
    if (moving != Py_None) {
        Py_INCREF(moving);
        p->moving = moving;
    }
    p->e_alive = alive;
    p->e_world = world;
    p->e_id = id;
    PyObject_GC_Track(p);
    return (PyObject *)p;
}


/* -------------------------------------------------------------------------- alias */

/* A read-only data descriptor: obj.<name> is obj.__dict__[<target>] (World.tick is
   World._tick, read by behaviours every think), like a property returning it. */
typedef struct {
    PyObject_HEAD
    PyObject *target, *name, *doc;
} Alias;

static void
alias_dealloc(Alias *a)
{
    Py_XDECREF(a->target);
    Py_XDECREF(a->name);
    Py_XDECREF(a->doc);
    PyObject_Free(a);
}

static PyObject *
alias_get(PyObject *self, PyObject *obj, PyObject *type)
{
    Alias *a = (Alias *)self;
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return inst_attr(obj, a->target);
}

static int
alias_set(PyObject *self, PyObject *obj, PyObject *value)
{
    PyErr_Format(PyExc_AttributeError, "can't set attribute '%U'", ((Alias *)self)->name);
    return -1;
}

static PyMemberDef alias_members[] = {
    {"__doc__", T_OBJECT, offsetof(Alias, doc), READONLY, NULL},
    {NULL},
};

static PyTypeObject Alias_T = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sim._speedups.alias",
    .tp_basicsize = sizeof(Alias),
    .tp_dealloc = (destructor)alias_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_descr_get = alias_get,
    .tp_descr_set = alias_set,
    .tp_members = alias_members,
    .tp_doc = "A read-only view of another instance attribute (see World.tick).",
};

static PyObject *
sp_alias(PyObject *self, PyObject *args)
{
    PyObject *target, *name, *doc;
    if (!PyArg_ParseTuple(args, "UUO:alias", &target, &name, &doc))
        return NULL;
    Alias *a = PyObject_New(Alias, &Alias_T);
    if (a == NULL)
        return NULL;
    Py_INCREF(target);
    Py_INCREF(name);
    Py_INCREF(doc);
    PyUnicode_InternInPlace(&target);
    a->target = target;
    a->name = name;
    a->doc = doc;
    return (PyObject *)a;
}

/* tp.<name>: a read-only member descriptor for tp's slot <slot> (Entity.x, Entity.y).  A
   member descriptor, not a property: a neighbour loop's other.x is then a load that
   CPython specializes (LOAD_ATTR_SLOT), where any other descriptor type goes through the
   generic attribute lookup.  Its PyMemberDef must outlive it: allocated once per view
   (a few per process) and never freed. */
static PyObject *
sp_readonly_slot(PyObject *self, PyObject *args)
{
    PyTypeObject *tp;
    const char *slot, *name, *doc;
    if (!PyArg_ParseTuple(args, "O!ssz:readonly_slot", &PyType_Type, &tp, &slot, &name, &doc))
        return NULL;
    Py_ssize_t off = slot_offset(tp, slot);
    if (off < 0)
        return NULL;
    size_t nn = strlen(name) + 1, nd = doc ? strlen(doc) + 1 : 0;
    PyMemberDef *def = PyMem_RawCalloc(1, sizeof(PyMemberDef) + nn + nd);
    if (def == NULL)
        return PyErr_NoMemory();
    char *text = (char *)(def + 1);
    memcpy(text, name, nn);
    def->name = text;
    if (doc) {
        memcpy(text + nn, doc, nd);
        def->doc = text + nn;
    }
    def->type = T_OBJECT_EX;
    def->offset = off;
    def->flags = READONLY;
    PyObject *d = PyDescr_NewMember(tp, def);
    if (d == NULL)
        PyMem_RawFree(def);
    return d;
}

/* -------------------------------------------------------------------------- setup */

static PyObject *
sp_setup(PyObject *self, PyObject *args)
{
    PyTypeObject *tasklet, *sched, *budget_t, *watchdog;
    PyObject *budget, *flag, *bomb, *py_switch;
    long long win;
    if (!PyArg_ParseTuple(args, "O!O!O!OO!OOO!L:setup", &PyType_Type, &tasklet, &PyType_Type,
                          &sched, &PyType_Type, &budget_t, &budget, &PyList_Type, &flag,
                          &bomb, &py_switch, &PyType_Type, &watchdog, &win))
        return NULL;
    if (!PyObject_TypeCheck(budget, budget_t) || !PyType_Check(bomb)
        || !PyCallable_Check(py_switch)) {
        PyErr_SetString(PyExc_TypeError, "setup(): bad arguments");
        return NULL;
    }
    if (!PyType_IsSubtype(tasklet, &Core_T)) {
        PyErr_SetString(PyExc_TypeError, "setup(): Tasklet must derive from Core");
        return NULL;
    }
    void **api = (void **)PyCapsule_Import("greenlet._C_API", 0);
    if (api == NULL)
        return NULL;
    greenlet_switch = (greenlet_switch_fn)api[GREENLET_SWITCH_NUM];
    Greenlet_T = (PyTypeObject *)api[0];
    if ((t_greenlet = slot_offset(tasklet, "greenlet")) < 0
        || (t_tempval = slot_offset(tasklet, "tempval")) < 0
        || (t_started = slot_offset(tasklet, "_started")) < 0
        || (t_in_ring = slot_offset(tasklet, "_in_ring")) < 0
        || (t_blocked = slot_offset(tasklet, "_blocked")) < 0
        || (t_chan = slot_offset(tasklet, "_chan")) < 0
        || (s_t0 = slot_offset(sched, "t0")) < 0
        || (s_pending_irq = slot_offset(sched, "pending_irq")) < 0
        || (s_soft_at = slot_offset(sched, "soft_at")) < 0
        || (s_current = slot_offset(sched, "current")) < 0
        || (s_q = slot_offset(sched, "q")) < 0
        || (b_n = slot_offset(budget_t, "n")) < 0
        || (b_n0 = slot_offset(budget_t, "n0")) < 0
        || (b_r = slot_offset(budget_t, "r")) < 0
        || (s_budget_base = slot_offset(sched, "budget_base")) < 0
        || (s_slice_budget = slot_offset(sched, "slice_budget")) < 0
        || (s_irq = slot_offset(sched, "irq")) < 0
        || (s_soft = slot_offset(sched, "_soft")) < 0
        || (d_total = slot_offset(watchdog, "total")) < 0
        || (d_used = slot_offset(watchdog, "used")) < 0
        || (d_timeout = slot_offset(watchdog, "timeout")) < 0)
        return NULL;
    PyObject *rpy = PyObject_GetAttrString((PyObject *)sched, "_ready_py");
    PyObject *bpy = rpy ? PyObject_GetAttrString((PyObject *)sched, "_block_py") : NULL;
    if (bpy == NULL) {
        Py_XDECREF(rpy);
        return NULL;
    }
    Py_XSETREF(ready_py, rpy);
    Py_XSETREF(block_py, bpy);
    PyObject *coll = PyImport_ImportModule("collections");
    PyObject *dq = coll ? PyObject_GetAttrString(coll, "deque") : NULL;
    PyObject *app = dq ? PyObject_GetAttrString(dq, "append") : NULL;
    PyObject *pop = app ? PyObject_GetAttrString(dq, "popleft") : NULL;
    Py_XDECREF(coll);
    int ok = pop != NULL && PyType_Check(dq) && Py_IS_TYPE(app, &PyMethodDescr_Type)
             && Py_IS_TYPE(pop, &PyMethodDescr_Type)
             && ((PyMethodDescrObject *)app)->d_method->ml_flags == METH_O
             && ((PyMethodDescrObject *)pop)->d_method->ml_flags == METH_NOARGS;
    if (ok) {
        deque_append = ((PyMethodDescrObject *)app)->d_method->ml_meth;
        deque_popleft = ((PyMethodDescrObject *)pop)->d_method->ml_meth;
        Py_XSETREF(Deque_T, (PyTypeObject *)dq);  /* held: the functions stay valid */
    }
    else
        Py_XDECREF(dq);
    Py_XDECREF(app);
    Py_XDECREF(pop);
    if (!ok) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "setup(): collections.deque is not as expected");
        return NULL;
    }
    window = win;
    Py_INCREF(watchdog);
    Py_XSETREF(Watchdog_T, watchdog);
    Py_INCREF(tasklet);
    Py_INCREF(sched);
    Py_INCREF(budget);
    Py_INCREF(flag);
    Py_INCREF(bomb);
    Py_INCREF(py_switch);
    Py_XSETREF(Tasklet_T, tasklet);
    Py_XSETREF(Sched_T, sched);
    Py_XSETREF(BUDGET, budget);
    Py_XSETREF(FLAG, flag);
    Py_XSETREF(bomb_T, bomb);
    Py_XSETREF(switch_py, py_switch);
    ready = 1;
    Py_RETURN_NONE;
}

/* The offset of tp's own slot `name`, made a C integer (-1 and an exception if it cannot).
   BehaviourTasklet's due and mark are written at every park and wake: as Python ints they
   allocated an int and freed one gone cold each time (see Core).  A slot is pointer-sized;
   retyping its member T_LONGLONG makes Python read and write it as an int, and the
   collector and dealloc stop treating it as an object (they follow T_OBJECT_EX members
   only).  Called before any instance exists: a fresh object's slots are zeroed, which
   reads as 0. */
static Py_ssize_t
int_slot(PyTypeObject *tp, const char *name)
{
    if (sizeof(long long) != sizeof(PyObject *) || !(tp->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        PyErr_SetString(PyExc_TypeError, "int_slot(): needs 8-byte pointers and a class");
        return -1;
    }
    for (PyMemberDef *m = tp->tp_members; m != NULL && m->name != NULL; m++) {
        if (strcmp(m->name, name) != 0)
            continue;
        if (m->type == T_OBJECT_EX)
            m->type = T_LONGLONG;
        if (m->type != T_LONGLONG || (m->flags & READONLY))
            break;
        return m->offset;
    }
    PyErr_Format(PyExc_TypeError, "%s.%s is not a writable slot of its own", tp->tp_name, name);
    return -1;
}

static PyObject *
sp_setup_world(PyObject *self, PyObject *args)
{
    PyTypeObject *behaviour;
    PyObject *error, *loc;
    if (!PyArg_ParseTuple(args, "O!OO:setup_world", &PyType_Type, &behaviour, &error, &loc))
        return NULL;
    if (!ready || !PyType_IsSubtype(behaviour, Tasklet_T)) {
        PyErr_SetString(PyExc_TypeError, "setup_world(): call setup() first, with a "
                        "Tasklet subclass");
        return NULL;
    }
    if ((w_world = slot_offset(behaviour, "world")) < 0
        || (w_key = slot_offset(behaviour, "key")) < 0
        || (w_entity = slot_offset(behaviour, "entity")) < 0
        || (w_due = int_slot(behaviour, "due")) < 0
        || (w_mark = int_slot(behaviour, "mark")) < 0)
        return NULL;
    Py_INCREF(behaviour);
    Py_INCREF(error);
    Py_INCREF(loc);
    Py_XSETREF(Behaviour_T, behaviour);
    Py_XSETREF(WorldError, error);
    Py_XSETREF(local, loc);
    world_ready = 1;
    Py_RETURN_NONE;
}

static PyObject *
sp_setup_prefetch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* setup_prefetch(g, saved, frame): g a greenlet suspended in a Python frame, saved its
       _stack_saved and frame its gr_frame.  Finds where g's implementation keeps its stack
       copy (the word before the saved size, as in greenlet's StackState) and its top frame,
       and checks that the frame's f_frame leads back to the frame.  Returns whether the
       prefetches that read them are on. */
    gi_copy = gi_frame = 0;
    if (bad_args(nargs == 3 && Py_IS_TYPE(args[0], Greenlet_T) && PyLong_Check(args[1])
                     && PyFrame_Check(args[2]), "setup_prefetch(greenlet, saved, frame)"))
        return NULL;
    Py_ssize_t saved = PyLong_AsSsize_t(args[1]);
    if (saved == -1 && PyErr_Occurred())
        return NULL;
    intptr_t *w = ((GreenletObject *)args[0])->pimpl;
    Py_ssize_t copy = 0, frame = 0, words = 24;  /* its first 192 bytes (of ~300) */
    if (w == NULL || saved <= 0 || PY_VERSION_HEX >= 0x030E0000)  /* frames: 3.11-3.13 */
        Py_RETURN_FALSE;
    for (Py_ssize_t k = 2; k < words; k++) {
        if (w[k] == saved && w[k - 1] != 0)
            copy = copy ? -1 : k - 1;
        if (w[k] == (intptr_t)args[2])
            frame = frame ? -1 : k;
    }
    if (copy <= 0 || frame <= 0)
        Py_RETURN_FALSE;
    /* f_frame, and the iframe's frame_obj (5th word on 3.11, 6th on 3.12 and 3.13) */
    intptr_t *iframe = *(intptr_t **)((char *)args[2] + FRAME_F_FRAME);
    if (iframe == NULL || iframe[PY_VERSION_HEX >= 0x030C0000 ? 6 : 5] != (intptr_t)args[2])
        Py_RETURN_FALSE;
    gi_copy = copy * (Py_ssize_t)sizeof(intptr_t);
    gi_frame = frame * (Py_ssize_t)sizeof(intptr_t);
    Py_RETURN_TRUE;
}

static PyObject *
sp_counts(PyObject *self, PyObject *unused)
{
    return Py_BuildValue("{sKsKsKsKsKsK}", "fast", n_fast, "slow", n_slow,
                         "grid_fast", n_grid_fast, "grid_slow", n_grid_slow,
                         "prefetch", n_prefetch, "relink", n_relink);
}

static PyObject *
sp_set_hooks(PyObject *self, PyObject *flag)
{
    int v = PyObject_IsTrue(flag);
    if (v < 0)
        return NULL;
    hooks = v;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ methods */

/* The entry points above that are methods of a Python class (Scheduler.switch,
   World.sleep_until, World.query_radius, Grid.query_radius), as method descriptors of that
   class (method(cls, name)): a call `obj.name(...)` then passes obj straight in, as it does
   for a method of a built-in type, instead of building a bound method at every call. */

static PyObject *
with_self(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
          PyObject *(*fn)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *))
{
    Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8], **stack = small;
    if (n >= 8 && (stack = PyMem_Malloc((n + 1) * sizeof(PyObject *))) == NULL)
        return PyErr_NoMemory();
    stack[0] = self;
    memcpy(stack + 1, args, n * sizeof(PyObject *));
    PyObject *r = fn(NULL, stack, nargs + 1, kwnames);
    if (stack != small)
        PyMem_Free(stack);
    return r;
}

static PyObject *
m_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 2, "switch(cur, nxt)"))
        return NULL;
    return do_switch(self, args[0], args[1]);
}

static PyObject *
m_ready(PyObject *self, PyObject *t)
{
    return do_ready(self, t);
}

static PyObject *
m_block(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 1 || nargs == 3, "block(cur, chan=None, d=0)"))
        return NULL;
    return nargs == 1 ? do_block(self, args[0], Py_None, zero, 0)
                      : do_block(self, args[0], args[1], args[2], 0);
}

static PyObject *
m_sleep_until(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 1 || kwnames != NULL)  /* sleep_until(when=...), or wrong arguments */
        return call_twin(self, str_sleep_until_py, args, nargs, kwnames);
    return sleep_until(self, args[0]);
}

static PyObject *
m_query_radius(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return with_self(self, args, nargs, kwnames, sp_query_radius);
}

static PyObject *
m_grid_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return with_self(self, args, nargs, kwnames, sp_grid_query);
}

/* key (what method() is asked for) -> the method, under its Python name. */
static struct {
    const char *key;
    PyMethodDef def;
} as_methods[] = {
    {"switch", {"switch", (PyCFunction)(void (*)(void))m_switch, METH_FASTCALL,
                "switch(cur, nxt): the kernel's switch (sim._speedups.switch; the twin is "
                "_switch_py)."}},
    {"ready", {"ready", m_ready, METH_O,
               "ready(t): t runs after everything queued now (the twin is _ready_py)."}},
    {"block", {"block", (PyCFunction)(void (*)(void))m_block, METH_FASTCALL,
               "block(cur, chan=None, d=0): cur leaves the ring and the next one runs (the "
               "twin is _block_py)."}},
    {"sleep_until", {"sleep_until", (PyCFunction)(void (*)(void))m_sleep_until,
                     METH_FASTCALL | METH_KEYWORDS,
                     "sleep_until(when): World.sleep_until in C (the twin is _sleep_until_py)."}},
    {"query_radius", {"query_radius", (PyCFunction)(void (*)(void))m_query_radius,
                      METH_FASTCALL | METH_KEYWORDS,
                      "query_radius(pos, r, kind=None, *, exclude=None): World.query_radius in "
                      "C (the twin is _query_radius_py)."}},
    {"grid_query", {"query_radius", (PyCFunction)(void (*)(void))m_grid_query,
                    METH_FASTCALL | METH_KEYWORDS,
                    "query_radius(x, y, r, kind=None, exclude=None): Grid.query_radius in C "
                    "(the twin is _query_radius_py)."}},
};

static PyObject *
sp_method(PyObject *self, PyObject *args)
{
    PyTypeObject *cls;
    const char *key;
    if (!PyArg_ParseTuple(args, "O!s:method", &PyType_Type, &cls, &key))
        return NULL;
    for (size_t i = 0; i < sizeof as_methods / sizeof as_methods[0]; i++) {
        if (strcmp(as_methods[i].key, key) == 0)
            return PyDescr_NewMethod(cls, &as_methods[i].def);
    }
    PyErr_Format(PyExc_ValueError, "method(): no C method %s", key);
    return NULL;
}

static PyMethodDef methods[] = {
    {"switch", (PyCFunction)(void (*)(void))sp_switch, METH_FASTCALL,
     "switch(sched, cur, nxt): Scheduler.switch (see sim/_kernel.py)."},
    {"park", (PyCFunction)(void (*)(void))sp_park, METH_FASTCALL,
     "park(t, world, due): sim._behaviour.park."},
    {"next_tick", sp_next_tick, METH_NOARGS,
     "next_tick()\n--\n\n"
     "Sleep until the next tick of the calling behaviour's world.\n\n"
     "The straight-line loop of a behaviour: ``while True: ...; next_tick()``.  Behaviours\n"
     "woken in a tick run in the order they went to sleep.  Sleepers cost nothing per tick.\n"
     "Raises WorldError outside an entity behaviour."},
    {"wake", (PyCFunction)(void (*)(void))sp_wake, METH_FASTCALL,
     "wake(woken, tick, ready): StepMixin._wake's loop over the wheel's list."},
    {"sweep", (PyCFunction)(void (*)(void))sp_sweep, METH_FASTCALL,
     "sweep(woken, units_mode, limit, over, unparked): StepMixin._sweep's first loop."},
    {"sleep_until", (PyCFunction)(void (*)(void))sp_sleep_until, METH_FASTCALL,
     "sleep_until(world, when): World.sleep_until (see sim/_world.py)."},
    {"query_radius", (PyCFunction)(void (*)(void))sp_query_radius,
     METH_FASTCALL | METH_KEYWORDS,
     "query_radius(world, pos, r, kind=None, *, exclude=None): World.query_radius."},
    {"setup_entity", sp_setup_entity, METH_VARARGS,
     "setup_entity(Entity): the world's entities, their own grid records (query_radius, "
     "move_all, prefetch)."},
    {"grid_query", (PyCFunction)(void (*)(void))sp_grid_query, METH_FASTCALL | METH_KEYWORDS,
     "grid_query(grid, x, y, r, kind=None, exclude=None): Grid.query_radius."},
    {"setup_grid", sp_setup_grid, METH_VARARGS,
     "setup_grid(Grid, EPS): for grid_query (its twin is Grid._query_radius_py)."},
    {"move_wrapped", sp_move_wrapped, METH_VARARGS,
     "move_wrapped(bodies, dt, w, h, invx, invy, nx, ny, relink, move): Grid.move_all's "
     "loop for a wrapping grid without subscriptions."},
    {"pair", sp_pair, METH_VARARGS,
     "pair(owner, a, b, fset, name, doc, moving=None): an (obj.a, obj.b) tuple "
     "descriptor (see Pair in _speedups.c)."},
    {"readonly_slot", sp_readonly_slot, METH_VARARGS,
     "readonly_slot(type, slot, name, doc): a read-only member descriptor for type's slot."},
    {"alias", sp_alias, METH_VARARGS,
     "alias(target, name, doc): a read-only descriptor for obj.__dict__[target]."},
    {"setup", sp_setup, METH_VARARGS,
     "setup(Tasklet, Scheduler, Budget, BUDGET, FLAG, bomb, switch_py, Watchdog, WINDOW)."},
    {"setup_world", sp_setup_world, METH_VARARGS,
     "setup_world(BehaviourTasklet, WorldError, thread_local)."},
    {"bind_thread", sp_bind_thread, METH_O,
     "bind_thread(sched): the calling thread's scheduler, for next_tick/sleep_until."},
    {"method", sp_method, METH_VARARGS,
     "method(cls, name): a method descriptor of cls for the C method name (switch, ready, "
     "block, sleep_until, query_radius, grid_query)."},
    {"setup_prefetch", (PyCFunction)(void (*)(void))sp_setup_prefetch, METH_FASTCALL,
     "setup_prefetch(greenlet, saved, frame) -> bool: where greenlets keep their stack copy "
     "and top frame, for prefetching the behaviours a tick resumes."},
    {"counts", sp_counts, METH_NOARGS,
     "counts() -> {'fast': switches done in C, 'slow': handed to Scheduler._switch_py, "
     "'grid_fast' / 'grid_slow': radius queries done in C / handed to the twin, "
     "'prefetch': parks that prefetched the behaviours resumed after the next, "
     "'relink': cell changes of move_all() done in C}."},
    {"set_hooks", sp_set_hooks, METH_O, "set_hooks(flag): switch hooks are (not) set."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sim._speedups",
    "The kernel's hottest paths in C (see the comment at the top of _speedups.c).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    /* object's own tp_new, so that object.__new__(Tasklet) stays allowed */
    Core_T.tp_new = PyBaseObject_Type.tp_new;
    if (PyType_Ready(&Pair_T) < 0 || PyType_Ready(&Core_T) < 0 || PyType_Ready(&Alias_T) < 0)
        return NULL;
#define INTERN(var, s) if ((var = PyUnicode_InternFromString(s)) == NULL) return NULL
    INTERN(str_switch, "switch");
    INTERN(str_popleft, "popleft");
    INTERN(str_raise, "raise_");
    INTERN(str_append, "append");
    INTERN(str_sched, "sched");
    INTERN(str_tsd_key, "sim._speedups.sched");
    INTERN(str_grid, "grid");
    INTERN(str_entities, "_entities");
    INTERN(str_query_radius, "query_radius");
    INTERN(str_query_radius_py, "_query_radius_py");
    INTERN(str_tick, "_tick");
    INTERN(str_tick_rate, "tick_rate");
    INTERN(str_sleep_until_py, "_sleep_until_py");
    INTERN(str_soon, "_soon");
    INTERN(str_wheel, "_wheel");
    INTERN(str_wsched, "_sched");
    INTERN(str_nx, "_nx");
    INTERN(str_ny, "_ny");
    INTERN(str_w, "_w");
    INTERN(str_h, "_h");
    INTERN(str_invx, "_invx");
    INTERN(str_invy, "_invy");
    INTERN(str_stride, "_stride");
    INTERN(str_cells, "_cells");
    INTERN(str_kind_cells, "_kind_cells");
#undef INTERN
    if ((empty_tuple = PyTuple_New(0)) == NULL || (zero = PyLong_FromLong(0)) == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&Core_T);
    if (PyModule_AddObject(m, "Core", (PyObject *)&Core_T) < 0) {
        Py_DECREF(&Core_T);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
