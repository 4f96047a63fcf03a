/* The standard movement payload's rule (sim._limits._parse_movement, the twin and the
 * specification): the server checks every client's INPUT with it, and a behaviour reads
 * its movement with it.
 *
 * The common case only: a dict whose keys are among "thrust", "turn" and "fire", thrust
 * and turn floats within [-1, 1] (the very objects are kept, as the twin keeps them), fire
 * a bool, a missing key 0.0 / False.  Anything else (another type, an unknown key, an int,
 * a value out of range, NaN) goes to the twin, which converts or raises its error.  The
 * Movement is made with its type's tp_alloc and its three slots set, as its __init__ does
 * (Loom's own type, its slots at offsets read from its member descriptors at
 * setup_movement); the dict is read through CPython's public API.
 */

#include "common.h"

static PyTypeObject *Movement_T;
static PyObject *movement_twin;  /* sim._limits._parse_movement as it was before install() */
static PyObject *str_thrust, *str_turn, *str_fire, *zero;

enum { M_THRUST, M_TURN, M_FIRE, M_N };
static const char *const movement_slots[M_N] = {"thrust", "turn", "fire"};
static Py_ssize_t m_off[M_N];

PyObject *
sp_setup_movement(PyObject *self, PyObject *args)
{
    PyObject *tp, *twin;
    if (!PyArg_ParseTuple(args, "O!O:setup_movement", &PyType_Type, &tp, &twin))
        return NULL;
    if (!PyCallable_Check(twin)) {
        PyErr_SetString(PyExc_TypeError, "setup_movement(Movement, twin)");
        return NULL;
    }
    Py_ssize_t offs[M_N];
    for (int i = 0; i < M_N; i++) {
        if ((offs[i] = slot_offset((PyTypeObject *)tp, movement_slots[i])) < 0)
            return NULL;
    }
    memcpy(m_off, offs, sizeof m_off);
    Py_XSETREF(Movement_T, (PyTypeObject *)Py_NewRef(tp));
    Py_XSETREF(movement_twin, Py_NewRef(twin));
    Py_RETURN_NONE;
}

/* payload[key] as a float within [-1, 1] (borrowed; `zero` when missing), adding 1 to
   *found when present; NULL for anything else (no error set). */
static inline PyObject *
axis(PyObject *payload, PyObject *key, Py_ssize_t *found)
{
    PyObject *v = PyDict_GetItemWithError(payload, key);
    if (v == NULL)
        return PyErr_Occurred() ? NULL : zero;
    ++*found;
    if (!PyFloat_CheckExact(v))
        return NULL;
    double d = PyFloat_AS_DOUBLE(v);
    return -1.0 <= d && d <= 1.0 ? v : NULL;  /* NaN fails too */
}

PyObject *
sp_parse_movement(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (movement_twin == NULL) {
        PyErr_SetString(PyExc_TypeError, "parse_movement before setup_movement");
        return NULL;
    }
    if (nargs != 2 || !PyDict_CheckExact(args[0]) || PyDict_GET_SIZE(args[0]) > 3)
        goto twin;
    PyObject *payload = args[0];
    Py_ssize_t found = 0;
    PyObject *thrust = axis(payload, str_thrust, &found);
    PyObject *turn = thrust ? axis(payload, str_turn, &found) : NULL;
    PyObject *fire = turn ? PyDict_GetItemWithError(payload, str_fire) : NULL;
    if (turn == NULL || (fire == NULL && PyErr_Occurred())) {
        PyErr_Clear();  /* (a key's own __eq__ raised: the twin raises it again) */
        goto twin;
    }
    if (fire == NULL)
        fire = Py_False;
    else if (!PyBool_Check(fire))
        goto twin;
    else
        found++;
    if (found != PyDict_GET_SIZE(payload))  /* an unknown key */
        goto twin;
    PyObject *m = Movement_T->tp_alloc(Movement_T, 0);
    if (m == NULL)
        return NULL;
    SLOT(m, m_off[M_THRUST]) = Py_NewRef(thrust);
    SLOT(m, m_off[M_TURN]) = Py_NewRef(turn);
    SLOT(m, m_off[M_FIRE]) = Py_NewRef(fire);
    return m;
twin:
    return PyObject_Vectorcall(movement_twin, args, nargs, NULL);
}

int
movement_init(PyObject *m)
{
    if (INTERN(str_thrust, "thrust") < 0 || INTERN(str_turn, "turn") < 0
        || INTERN(str_fire, "fire") < 0)
        return -1;
    zero = PyFloat_FromDouble(0.0);
    return zero == NULL ? -1 : 0;
}
