/* The kernel's layer: Tasklet's C base (Core), the switch and its budget accounting (the
 * twin is Scheduler._switch_py), and setup(), which gives the C the kernel's types.
 */
#include "kernel.h"

/* ---------------------------------------------------------------- state set by setup() */

int ready = 0;
int hooks = 0;
unsigned long long n_fast, n_slow;
PyTypeObject *Tasklet_T, *Sched_T, *tasklet_seen;
PyObject *BUDGET, *FLAG, *bomb_T, *str_raise, *str_popleft, *str_append;
PyObject *zero;
PyObject *ready_py, *block_py;
PyTypeObject *Deque_T;
PyCFunction deque_append, deque_popleft;
Py_ssize_t t_greenlet, t_tempval, t_started, t_in_ring, t_blocked, t_chan;
Py_ssize_t s_t0, s_pending_irq, s_soft_at, s_current, s_q;
Py_ssize_t b_n, b_n0;
greenlet_switch_fn greenlet_switch;
PyTypeObject *Greenlet_T;
PyObject *empty_tuple;
_Thread_local PyObject *landing;

static PyTypeObject *Watchdog_T;
static long long window;
static PyObject *switch_py;
static Py_ssize_t s_budget_base, s_slice_budget, s_irq, s_soft;
static Py_ssize_t d_total, d_used, d_timeout;
static Py_ssize_t b_r;

/* The slots of greenlet's C API capsule used here (greenlet/greenlet.h). */
#define PyGreenlet_Type_NUM 0
#define PyGreenlet_Switch_NUM 6

/* -------------------------------------------------------------------------- Core */

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
    .tp_doc = "A tasklet's counters as C integers (see sim._kernel.tasklet._PyCore).",
};

/* ------------------------------------------------------------------ switch, budget */

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
    if (used < 0)  /* BUDGET is process-wide: another thread reset it meanwhile */
        used = 0;
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
__attribute__((noinline)) int
spend_budget(PyObject *sched, PyObject *cur)
{
    Budget bud = {0};  /* (read_budget leaves the watchdog fields unset without one) */
    int ok = read_budget(sched, &bud);
    if (ok <= 0)
        return ok;
    return charge_budget(sched, cur, &bud) < 0 ? -1 : 1;
}

__attribute__((noinline)) PyObject *
switch_slow(PyObject *sched, PyObject *cur, PyObject *nxt)
{
    n_slow++;
    PyObject *args[3] = {sched, cur, nxt};
    return PyObject_Vectorcall(switch_py, args, 3, NULL);
}

PyObject *
sp_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 3, "switch(sched, cur, nxt)"))
        return NULL;
    return do_switch(args[0], args[1], args[2]);
}

PyObject *
m_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 2, "switch(cur, nxt)"))
        return NULL;
    return do_switch(self, args[0], args[1]);
}

/* The door's two hot primitives: Scheduler.ready and Scheduler.block (the twins are
   _ready_py and _block_py). */
PyObject *
sp_ready(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 2, "ready(sched, t)"))
        return NULL;
    return do_ready(args[0], args[1]);
}

PyObject *
m_ready(PyObject *self, PyObject *t)
{
    return do_ready(self, t);
}

PyObject *
sp_block(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 2 || nargs == 4, "block(sched, cur, chan=None, d=0)"))
        return NULL;
    return nargs == 2 ? do_block(args[0], args[1], Py_None, zero, NULL)
                      : do_block(args[0], args[1], args[2], args[3], NULL);
}

PyObject *
m_block(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (bad_args(nargs == 1 || nargs == 3, "block(cur, chan=None, d=0)"))
        return NULL;
    return nargs == 1 ? do_block(self, args[0], Py_None, zero, NULL)
                      : do_block(self, args[0], args[1], args[2], NULL);
}

/* -------------------------------------------------------------------------- setup */

PyObject *
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
    greenlet_switch = (greenlet_switch_fn)api[PyGreenlet_Switch_NUM];
    Greenlet_T = (PyTypeObject *)api[PyGreenlet_Type_NUM];
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
    if (twins_of(sched, "_ready_py", "_block_py", &ready_py, &block_py) < 0)
        return NULL;
    /* collections.deque's append and popleft, through their method descriptors'
       PyMethodDef (public API, as slots_of reads member descriptors). */
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

PyObject *
sp_set_hooks(PyObject *self, PyObject *flag)
{
    int v = PyObject_IsTrue(flag);
    if (v < 0)
        return NULL;
    hooks = v;
    Py_RETURN_NONE;
}

int
kernel_init(PyObject *m)
{
    /* object's own tp_new, so that object.__new__(Tasklet) stays allowed */
    Core_T.tp_new = PyBaseObject_Type.tp_new;
    if (PyType_Ready(&Core_T) < 0 || INTERN(str_raise, "raise_") < 0
        || INTERN(str_popleft, "popleft") < 0 || INTERN(str_append, "append") < 0
        || (empty_tuple = PyTuple_New(0)) == NULL || (zero = PyLong_FromLong(0)) == NULL)
        return -1;
    Py_INCREF(&Core_T);
    if (PyModule_AddObject(m, "Core", (PyObject *)&Core_T) < 0) {
        Py_DECREF(&Core_T);
        return -1;
    }
    return 0;
}
