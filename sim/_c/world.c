/* The world's layer: a behaviour parks on its world's tick wheel (park, next_tick,
 * sleep_until), the tick wakes and charges the woken (wake, sweep), and World.query_radius
 * maps the grid's hits to entities.  sim/_twins.py lists the twins.
 */
#include "kernel.h"
#include "grid.h"

unsigned long long n_prefetch;
static int world_ready = 0;
static PyTypeObject *Behaviour_T, *behaviour_seen;
static PyObject *local, *WorldError, *next_tick_py;
static Py_ssize_t w_world, w_key, w_entity, w_journal;  /* BehaviourTasklet's slots */
static Py_ssize_t w_due, w_mark;  /* ... and its two C integers (see int_slot) */
static PyObject *str_sched, *str_tsd_key, *str_grid,
    *str_entities, *str_query_radius, *str_query_radius_py, *str_tick, *str_tick_rate,
    *str_sleep_until_py, *str_parked_next, *str_parked_later, *str_wheel, *str_wsched;

/* obj.<twin>(*args, **kwargs): a C entry point handing a call it does not take to its
   Python twin, as it was made (a new reference, or NULL and an exception). */
/* A behaviour's _due and _mark: C integers in BehaviourTasklet's slots (see int_slot). */
#define LL(o, off) (*(long long *)((char *)(o) + (off)))

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

/* ------------------------------------------------------------------- park, next_tick */

/* The calling thread's scheduler (a new reference), or NULL without an exception when the
   thread has none.  bind_thread() keeps it in the thread state's dict, a cheaper read than
   the threading.local the Python side uses (which stays the reference: it is the
   fallback). */
PyObject *
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

PyObject *
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
   the behaviour's objects (its tasklet, greenlet, entity and position floats), which a
   plain loop over the same entities mostly does not pay.  The tick resumes the behaviours
   in the order of its woken list, one park apart (a think, microseconds), so each park
   starts the loads for the next three, one level of pointers per park (distance 1 is the
   behaviour resumed right after the next): the tasklet (every line of it) at distance 3;
   its greenlet and entity at 2; the entity's coordinates at 1.  What is read to find them
   is Loom's own (a tasklet's and an entity's slots), each prefetched by an earlier park;
   the greenlet is prefetched, never read; prefetches never fault. */
static _Thread_local PyObject *pf_list;    /* the tick's woken list (a reference) */
static _Thread_local Py_ssize_t pf_pos;    /* where in it the tick has got to */
/* Lines a BehaviourTasklet spans (set by setup_world from its size): the run reads from all
   of them, from its type and the kernel's counters at the head to its world at the end. */
static int pf_tasklet_lines = 4;

static inline PyObject *
pf_behaviour(PyObject *l, Py_ssize_t i)
{
    PyObject *t = PyList_GET_ITEM(l, i);
    return of_type(t, Behaviour_T, &behaviour_seen) ? t : NULL;
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
    Py_ssize_t n = PyList_GET_SIZE(l), i = pf_pos, end = i + 4 < n ? i + 4 : n;
    while (i < end && PyList_GET_ITEM(l, i) != next)
        i++;
    if (i == end)
        return;  /* not from the list (a soon or spawned one): nothing to do this park */
    pf_pos = ++i;
    n_prefetch++;
    if (i + 3 < n)
        pf_lines(PyList_GET_ITEM(l, i + 3), pf_tasklet_lines);
    if (i + 2 < n && (t = pf_behaviour(l, i + 2)) != NULL) {
        if ((g = SLOT(t, t_greenlet)) != NULL)
            PF(g);
        if ((e = SLOT(t, w_entity)) != NULL)
            pf_lines(e, 2);
    }
    if (i + 1 < n && (t = pf_behaviour(l, i + 1)) != NULL && (e = pf_entity(t)) != NULL) {
        PF(SLOT(e, e_x));
        PF(SLOT(e, e_y));
    }
}

/* do_block's prefetch at a tick's park: the behaviours resumed after `next`. */
static void
prefetch_park(PyObject *next)
{
    if (pf_list != NULL && e_x)
        prefetch_ahead(next);
}

/* t._due = due; wheel it; block (the kernel's door: leave the ring, the next runnable runs;
   deadlock raises).  On any exception (killed, thrown at while parked) t._due = 0: its
   wheel entry is stale. */
static inline __attribute__((always_inline)) PyObject *
do_park(PyObject *t, PyObject *world, PyObject *sched, long long due, long long tick)
{
    PyObject *r, *bucket;
    int rc;

    LL(t, w_due) = due;
    PyObject *wheel = inst_attr(world, str_wheel);  /* the world's TickWheel */
    if (wheel == NULL)
        goto failed;
    if (due == tick + 1) {
        bucket = inst_attr(wheel, str_parked_next);
        Py_DECREF(wheel);
        if (bucket == NULL)
            goto failed;
        rc = PyList_Check(bucket) ? PyList_Append(bucket, t) : -1;
        Py_DECREF(bucket);
        if (rc < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "world._wheel.parked_next must be a list");
            goto failed;
        }
    }
    else {
        PyObject *later = inst_attr(wheel, str_parked_later);
        Py_DECREF(wheel);
        PyObject *key = later ? PyLong_FromLongLong(due) : NULL;
        if (key == NULL)
            rc = -1;
        else if (!PyDict_Check(later)) {
            PyErr_SetString(PyExc_TypeError, "world._wheel.parked_later must be a dict");
            rc = -1;
        }
        else if ((bucket = PyDict_GetItemWithError(later, key)) != NULL)
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
                rc = PyDict_SetItem(later, key, l);
                Py_DECREF(l);
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(later);
        if (rc < 0)
            goto failed;
    }

    r = do_block(sched, t, Py_None, zero, prefetch_park);
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
    /* a durable behaviour's calls (and a replay's) go to the twins, which journal them */
    if (t == NULL || !PyObject_TypeCheck(t, Behaviour_T) || SLOT(t, w_world) == NULL
        || SLOT(t, w_journal) != Py_None) {
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

PyObject *
sp_sleep_until(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 2, "sleep_until(world, when)"))
        return NULL;
    return sleep_until(args[0], args[1]);
}

PyObject *
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


PyObject *
sp_next_tick(PyObject *self, PyObject *unused)
{
    if (!world_ready) {
        PyErr_SetString(PyExc_RuntimeError, "sim._speedups.setup_world() was not called");
        return NULL;
    }
    PyObject *sched, *t = running_behaviour(&sched);
    if (t == NULL) {  /* no behaviour (the twin says why), or a durable one: the twin */
        if (PyErr_Occurred())
            return NULL;
        return PyObject_CallNoArgs(next_tick_py);
    }
    PyObject *world = SLOT(t, w_world);  /* held by t, which the world's wheel holds */
    long long tick;
    if (world_tick(world, &tick) < 0) {
        Py_DECREF(sched);
        return NULL;
    }
    Py_INCREF(t);
    return park_until(t, world, sched, tick + 1, tick);
}

PyObject *
m_sleep_until(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 1 || kwnames != NULL)  /* sleep_until(when=...), or wrong arguments */
        return call_twin(self, str_sleep_until_py, args, nargs, kwnames);
    return sleep_until(self, args[0]);
}

/* ------------------------------------------------------------------ wake, sweep */

/* The world's per-tick loops over the behaviours woken from its wheel (the twins are
   _wake_loop and _sweep_loop in sim/_world/wheel.py, which TickWheel.wake and measure call). */

/* Both loops visit every woken behaviour once a tick, in list order, each one's tasklet
   gone cold since the other loop (10,000 of them are megabytes, past L2), and a loop
   iteration is short: each prefetches the lines it reads of the behaviour LOOP_AHEAD
   entries on (prefetching never faults; the addresses are the list's items and their
   type's slot offsets, Loom's own).  The two touch different lines: the object's head (its
   type, and the kernel's counters) and due in both; the run state ready() reads in wake;
   mark in sweep.  (Callgrind counts these misses but simulates no prefetch: measure the
   gain on the clock.) */
#define LOOP_AHEAD 8

static inline void
pf_wake(PyObject *t)
{
    PF(t);
    PF((char *)t + w_due);
    PF((char *)t + t_blocked);
    PF((char *)t + t_in_ring);
}

static inline void
pf_sweep(PyObject *t)
{
    PF(t);
    PF((char *)t + w_due);
    PF((char *)t + w_mark);
}

PyObject *
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
        if (i + LOOP_AHEAD < PyList_GET_SIZE(woken))
            pf_wake(PyList_GET_ITEM(woken, i + LOOP_AHEAD));
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

PyObject *
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
        if (i + LOOP_AHEAD < PyList_GET_SIZE(woken))
            pf_sweep(PyList_GET_ITEM(woken, i + LOOP_AHEAD));
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


/* ------------------------------------------------------------------ query_radius */

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
PyObject *
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

PyObject *
m_query_radius(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return with_self(self, args, nargs, kwnames, sp_query_radius);
}

/* -------------------------------------------------------------------------- setup */

/* The offset of tp's own slot `name`, made a C integer (-1 and an exception if it cannot).
   BehaviourTasklet's _due and _mark are written at every park and wake: as Python ints they
   allocated an int and freed one gone cold each time (see Core in kernel.h).  A slot is
   pointer-sized; retyping its member T_LONGLONG makes Python read and write it as an int,
   and the collector and dealloc stop treating it as an object (they follow T_OBJECT_EX
   members only).  Called before any instance exists: a fresh object's slots are zeroed,
   which reads as 0. */
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

PyObject *
sp_setup_world(PyObject *self, PyObject *args)
{
    PyTypeObject *behaviour;
    PyObject *error, *loc, *twin;
    if (!PyArg_ParseTuple(args, "O!OOO:setup_world", &PyType_Type, &behaviour, &error, &loc,
                          &twin))
        return NULL;
    if (!ready || !PyType_IsSubtype(behaviour, Tasklet_T)) {
        PyErr_SetString(PyExc_TypeError, "setup_world(): call setup() first, with a "
                        "Tasklet subclass");
        return NULL;
    }
    if ((w_world = slot_offset(behaviour, "world")) < 0
        || (w_key = slot_offset(behaviour, "key")) < 0
        || (w_entity = slot_offset(behaviour, "entity")) < 0
        || (w_journal = slot_offset(behaviour, "_journal")) < 0
        || (w_due = int_slot(behaviour, "_due")) < 0
        || (w_mark = int_slot(behaviour, "_mark")) < 0)
        return NULL;
    Py_INCREF(behaviour);
    Py_INCREF(error);
    Py_INCREF(loc);
    Py_XSETREF(Behaviour_T, behaviour);
    Py_XSETREF(WorldError, error);
    Py_XSETREF(local, loc);
    /* [t, t + size) starts anywhere in a line: one line more than its size in lines */
    pf_tasklet_lines = (int)((behaviour->tp_basicsize + 63) / 64) + 1;
    Py_INCREF(twin);
    Py_XSETREF(next_tick_py, twin);
    world_ready = 1;
    Py_RETURN_NONE;
}

int
world_init(PyObject *m)
{
    return INTERN(str_sched, "sched") < 0 || INTERN(str_tsd_key, "sim._speedups.sched") < 0
           || INTERN(str_grid, "grid") < 0 || INTERN(str_entities, "_entities") < 0
           || INTERN(str_query_radius, "query_radius") < 0
           || INTERN(str_query_radius_py, "_query_radius_py") < 0
           || INTERN(str_tick, "_tick") < 0 || INTERN(str_tick_rate, "tick_rate") < 0
           || INTERN(str_sleep_until_py, "_sleep_until_py") < 0
           || INTERN(str_parked_next, "parked_next") < 0
           || INTERN(str_parked_later, "parked_later") < 0 || INTERN(str_wheel, "_wheel") < 0
           || INTERN(str_wsched, "_sched") < 0
           ? -1 : 0;
}
