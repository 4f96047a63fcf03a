/* The descriptors Loom's classes get from C: pair (Entity.pos and .vel, two slots read as a
 * tuple), alias (World.tick, a read-only view of another attribute) and readonly_slot
 * (Entity.x and .y, member descriptors CPython specializes).  The twins are the properties
 * they replace.
 */
#include "common.h"

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

PyObject *
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

PyObject *
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
PyObject *
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

int
descr_init(PyObject *m)
{
    return PyType_Ready(&Pair_T) < 0 || PyType_Ready(&Alias_T) < 0 ? -1 : 0;
}
