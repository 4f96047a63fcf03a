/* The helpers of common.h that are not inlined: slot offsets, read from the member
 * descriptors of Loom's own classes at setup, and the undo of a failed call.
 */
#include "common.h"

char twin_mark;

/* The offsets of n slots of tp: 1; 0 when one is no plain slot (absent, or shadowed by a
   property); -1 on an error. */
int
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
Py_ssize_t
slot_offset(PyTypeObject *tp, const char *name)
{
    Py_ssize_t off;
    int found = slots_of(tp, &name, 1, &off);
    if (found == 0)
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", tp->tp_name, name);
    return found > 0 ? off : -1;
}

/* A type's two Python twins, its attributes a and b, into *pa and *pb (their old values
   released): 0, or -1 with an exception and neither changed. */
int
twins_of(PyTypeObject *tp, const char *a, const char *b, PyObject **pa, PyObject **pb)
{
    PyObject *x = PyObject_GetAttrString((PyObject *)tp, a);
    PyObject *y = x ? PyObject_GetAttrString((PyObject *)tp, b) : NULL;
    if (y == NULL) {
        Py_XDECREF(x);
        return -1;
    }
    Py_XSETREF(*pa, x);
    Py_XSETREF(*pb, y);
    return 0;
}

/* While an exception e is set: args[0].name(*args[1:n], e) (args has room for e at n), then
   e propagates again, or what that call raised instead, with e as its context (as a Python
   `except BaseException as e: undo(e); raise` does).  Always NULL. */
PyObject *
undo_then_raise(PyObject *name, PyObject **args, Py_ssize_t n)
{
    PyObject *type, *e, *tb;
    PyErr_Fetch(&type, &e, &tb);
    PyErr_NormalizeException(&type, &e, &tb);
    if (tb != NULL)
        PyException_SetTraceback(e, tb);
    args[n] = e;
    PyObject *r = PyObject_VectorcallMethod(name, args, (n + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                            NULL);
    if (r != NULL) {
        Py_DECREF(r);
        PyErr_Restore(type, e, tb);
        return NULL;
    }
    PyObject *type2, *e2, *tb2;
    PyErr_Fetch(&type2, &e2, &tb2);
    PyErr_NormalizeException(&type2, &e2, &tb2);
    if (tb2 != NULL)
        PyException_SetTraceback(e2, tb2);
    PyException_SetContext(e2, e);  /* steals e */
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyErr_Restore(type2, e2, tb2);
    return NULL;
}

/* An entry point that is a method (see with_self) called as a module function: args[0],
   which must be a tp (set up: ok), is self.  TypeError "needs <what>" otherwise. */
PyObject *
as_function(int ok, PyTypeObject *tp, const char *what, PyObject *const *args,
            Py_ssize_t nargs, PyObject *kwnames,
            PyObject *(*method)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *))
{
    if (!ok || nargs < 1 || !PyObject_TypeCheck(args[0], tp)) {
        PyErr_Format(PyExc_TypeError, "needs %s", what);
        return NULL;
    }
    return method(args[0], args + 1, nargs - 1, kwnames);
}

