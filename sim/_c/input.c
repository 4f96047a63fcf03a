/* One INPUT frame read whole (net._connection's read_input; the twin,
 * net._connection._read_input_py, is the specification): a server connection's usual read
 * is exactly one frame, and usually an INPUT, so it is decoded, checked and made into its
 * `Input` here in one call, instead of the decoder's msgpack unpack, its duplicate-key and
 * empty-bin checks, the protocol's parse and the payload's value check, each in Python.
 *
 * What it declines at once (None, nothing changed, as the twin does): data that is not one
 * whole frame (a bytes object whose length prefix is its length, the decoder holding
 * nothing) with a body starting as an INPUT's (a 4-element fixarray, type INPUT).
 *
 * What it does itself: the body [INPUT, seq, ack, payload] with seq and ack unsigned ints
 * up to 2**32-1 and the payload a fixmap (at most 15 entries) of distinct str keys of at
 * most MAX_KEY_LEN characters to nil, bool, ints within MIN_INT..MAX_INT, finite floats
 * within MAX_ABS_FLOAT (float 32 or 64) and strs of at most MAX_STR_LEN characters, and
 * nothing after it; the decoder in good order and the frame within its max_frame.  The
 * decoder then counts the frame as its feed() would.  Everything else (a nested value, a
 * bin, a bigger map, a duplicate key, bad UTF-8, any value the checks refuse, every error)
 * goes to the twin, which decides: the Python path and its error messages.
 *
 * The objects read: Decoder and Input (Loom's own, their slots at offsets read from their
 * member descriptors at setup_input; an Input is made with its type's tp_alloc and its
 * three slots set, as its __init__ does); everything else through CPython's public API.
 */

#include "common.h"

static PyTypeObject *Decoder_T, *Input_T;
static PyObject *input_twin;   /* net._connection._read_input_py */
static long long max_key_len, max_str_len;
static double max_abs_float;
static long long max_int;      /* MAX_INT; MIN_INT is its negation */
static int input_type;         /* MessageType.INPUT, a positive fixint */

enum { D_BUF, D_FAILED, D_MAX, D_SINCE, D_FRAMES, D_SIZES, D_N };
static const char *const decoder_slots[D_N] = {"_buf", "_failed", "_max", "_since", "frames",
                                               "sizes"};
static Py_ssize_t d_off[D_N];

enum { I_SEQ, I_ACK, I_PAYLOAD, I_N };
static const char *const input_slots[I_N] = {"seq", "ack", "payload"};
static Py_ssize_t i_off[I_N];

/* Map keys seen, interned (msgpack interns map keys too): the same few keys come in every
   INPUT, so most are found here by their bytes instead of decoded.  Filled first come,
   never evicted: a key not here is decoded and interned as usual. */
#define KEY_CACHE 16
#define KEY_CACHE_LEN 32
static struct {
    Py_ssize_t len;
    char bytes[KEY_CACHE_LEN];
    PyObject *str;
} keys[KEY_CACHE];
static int n_keys;

PyObject *
sp_setup_input(PyObject *self, PyObject *args)
{
    PyObject *dec, *inp, *twin;
    long long klen, slen, mint;
    double mfloat;
    int itype;
    if (!PyArg_ParseTuple(args, "O!O!OLLdLi:setup_input", &PyType_Type, &dec, &PyType_Type,
                          &inp, &twin, &klen, &slen, &mfloat, &mint, &itype))
        return NULL;
    if (!PyCallable_Check(twin) || itype < 0 || itype > 0x7f) {
        PyErr_SetString(PyExc_TypeError,
                        "setup_input(Decoder, Input, twin, max_key_len, max_str_len, "
                        "max_abs_float, max_int, input_type)");
        return NULL;
    }
    Py_ssize_t doff[D_N], ioff[I_N];
    for (int i = 0; i < D_N + I_N; i++) {
        Py_ssize_t off = i < D_N ? slot_offset((PyTypeObject *)dec, decoder_slots[i])
                                 : slot_offset((PyTypeObject *)inp, input_slots[i - D_N]);
        if (off < 0)
            return NULL;
        *(i < D_N ? &doff[i] : &ioff[i - D_N]) = off;
    }
    memcpy(d_off, doff, sizeof d_off);
    memcpy(i_off, ioff, sizeof i_off);
    Py_XSETREF(Decoder_T, (PyTypeObject *)Py_NewRef(dec));
    Py_XSETREF(Input_T, (PyTypeObject *)Py_NewRef(inp));
    Py_XSETREF(input_twin, Py_NewRef(twin));
    max_key_len = klen;
    max_str_len = slen;
    max_abs_float = mfloat;
    max_int = mint;
    input_type = itype;
    Py_RETURN_NONE;
}

static inline unsigned long long
be(const unsigned char *p, int n)
{
    unsigned long long v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* An unsigned int at *pp (positive fixint, uint 8/16/32/64) into *v, *pp moved past it: 1;
   0 for anything else or a short body. */
static inline int
read_uint(const unsigned char **pp, const unsigned char *end, unsigned long long *v)
{
    const unsigned char *p = *pp;
    if (p >= end)
        return 0;
    unsigned char c = *p;
    int n;
    if (c < 0x80) {
        *v = c;
        *pp = p + 1;
        return 1;
    }
    if (c == 0xcc)
        n = 1;
    else if (c == 0xcd)
        n = 2;
    else if (c == 0xce)
        n = 4;
    else if (c == 0xcf)
        n = 8;
    else
        return 0;
    if (end - p < 1 + n)
        return 0;
    *v = be(p + 1, n);
    *pp = p + 1 + n;
    return 1;
}

/* The str of the n UTF-8 bytes at p, of at most max_len characters: a new reference; TWIN
   for bad UTF-8 or a longer str (no error set); NULL on a memory error. */
static PyObject *
decode_str(const unsigned char *p, Py_ssize_t n, long long max_len)
{
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (s == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return NULL;
        PyErr_Clear();
        return TWIN;
    }
    if (PyUnicode_GET_LENGTH(s) > max_len) {
        Py_DECREF(s);
        return TWIN;
    }
    return s;
}

/* The str of a map key at *pp (fixstr or str 8), interned, within max_key_len characters:
   a new reference, *pp moved past it; TWIN for anything else (no error set); NULL on a
   memory error. */
static PyObject *
read_key(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    Py_ssize_t n;
    if (p >= end)
        return TWIN;
    if ((*p & 0xe0) == 0xa0) {
        n = *p & 0x1f;
        p += 1;
    }
    else if (*p == 0xd9 && end - p >= 2) {
        n = p[1];
        p += 2;
    }
    else
        return TWIN;
    if (end - p < n)
        return TWIN;
    for (int i = 0; i < n_keys; i++) {
        if (keys[i].len == n && memcmp(keys[i].bytes, p, (size_t)n) == 0) {
            *pp = p + n;
            return Py_NewRef(keys[i].str);
        }
    }
    PyObject *s = decode_str(p, n, max_key_len);
    if (s == NULL || s == TWIN)
        return s;
    PyUnicode_InternInPlace(&s);
    if (n_keys < KEY_CACHE && n <= KEY_CACHE_LEN) {
        keys[n_keys].len = n;
        memcpy(keys[n_keys].bytes, p, (size_t)n);
        keys[n_keys].str = Py_NewRef(s);
        n_keys++;
    }
    *pp = p + n;
    return s;
}

/* A plain scalar at *pp the way msgpack decodes it, within the value checks' limits: a new
   reference, *pp moved past it; TWIN for anything else (no error set); NULL on a memory
   error. */
static PyObject *
read_scalar(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    if (p >= end)
        return TWIN;
    unsigned char c = *p;
    Py_ssize_t left = end - p - 1;
    long long iv;
    if (c < 0x80) {
        *pp = p + 1;
        return PyLong_FromLong(c);
    }
    if (c >= 0xe0) {
        *pp = p + 1;
        return PyLong_FromLong((long)(signed char)c);
    }
    if ((c & 0xe0) == 0xa0 || c == 0xd9 || c == 0xda) {
        Py_ssize_t n, head;
        if ((c & 0xe0) == 0xa0) {
            n = c & 0x1f;
            head = 1;
        }
        else if (c == 0xd9) {
            if (left < 1)
                return TWIN;
            n = p[1];
            head = 2;
        }
        else {
            if (left < 2)
                return TWIN;
            n = (Py_ssize_t)be(p + 1, 2);
            head = 3;
        }
        if (end - p - head < n)
            return TWIN;
        PyObject *s = decode_str(p + head, n, max_str_len);
        if (s == NULL || s == TWIN)
            return s;
        *pp = p + head + n;
        return s;
    }
    switch (c) {
    case 0xc0:
        *pp = p + 1;
        return Py_NewRef(Py_None);
    case 0xc2:
        *pp = p + 1;
        return Py_NewRef(Py_False);
    case 0xc3:
        *pp = p + 1;
        return Py_NewRef(Py_True);
    case 0xca:
    case 0xcb: {
        int n = c == 0xca ? 4 : 8;
        if (left < n)
            return TWIN;
        double d;
        unsigned long long bits = be(p + 1, n);
        if (n == 4) {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, 4);
            d = (double)f;
        }
        else
            memcpy(&d, &bits, 8);
        if (!(-max_abs_float <= d && d <= max_abs_float))  /* NaN fails too */
            return TWIN;
        *pp = p + 1 + n;
        return PyFloat_FromDouble(d);
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
        int n = c == 0xcc ? 1 : c == 0xcd ? 2 : c == 0xce ? 4 : 8;
        if (left < n)
            return TWIN;
        unsigned long long u = be(p + 1, n);
        if (u > (unsigned long long)max_int)
            return TWIN;
        *pp = p + 1 + n;
        return PyLong_FromLongLong((long long)u);
    }
    case 0xd0:
        if (left < 1)
            return TWIN;
        iv = (signed char)p[1];
        *pp = p + 2;
        return PyLong_FromLongLong(iv);
    case 0xd1:
        if (left < 2)
            return TWIN;
        iv = (int16_t)be(p + 1, 2);
        *pp = p + 3;
        return PyLong_FromLongLong(iv);
    case 0xd2:
        if (left < 4)
            return TWIN;
        iv = (int32_t)be(p + 1, 4);
        *pp = p + 5;
        return PyLong_FromLongLong(iv);
    case 0xd3:
        if (left < 8)
            return TWIN;
        iv = (long long)be(p + 1, 8);
        if (iv < -max_int || iv > max_int)
            return TWIN;
        *pp = p + 9;
        return PyLong_FromLongLong(iv);
    default:
        return TWIN;
    }
}

/* The payload map at p..end, which must be all of it: a new dict, TWIN, or NULL. */
static PyObject *
read_payload(const unsigned char *p, const unsigned char *end)
{
    if (p >= end || (*p & 0xf0) != 0x80)
        return TWIN;
    int n = *p++ & 0x0f;
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *k = read_key(&p, end);
        if (k == NULL || k == TWIN) {
            Py_DECREF(d);
            return k;
        }
        PyObject *v = read_scalar(&p, end);
        if (v == NULL || v == TWIN) {
            Py_DECREF(k);
            Py_DECREF(d);
            return v;
        }
        int r = PyDict_SetItem(d, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (r < 0) {
            Py_DECREF(d);
            return NULL;
        }
        if (PyDict_GET_SIZE(d) != i + 1) {  /* a duplicate key: the twin names it */
            Py_DECREF(d);
            return TWIN;
        }
    }
    if (p != end) {  /* trailing bytes */
        Py_DECREF(d);
        return TWIN;
    }
    return d;
}

static inline void
slot_set(PyObject *o, Py_ssize_t off, PyObject *v)
{
    PyObject *old = SLOT(o, off);
    SLOT(o, off) = v;
    Py_XDECREF(old);
}

PyObject *
sp_read_input(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || Decoder_T == NULL || Py_TYPE(args[0]) != Decoder_T
        || !PyBytes_CheckExact(args[1]))
        goto twin;
    PyObject *dec = args[0], *data = args[1];
    PyObject *buf = SLOT(dec, d_off[D_BUF]), *failed = SLOT(dec, d_off[D_FAILED]);
    PyObject *maxo = SLOT(dec, d_off[D_MAX]), *frames = SLOT(dec, d_off[D_FRAMES]);
    PyObject *sizes = SLOT(dec, d_off[D_SIZES]);
    if (buf == NULL || !PyByteArray_CheckExact(buf) || failed == NULL || maxo == NULL
        || frames == NULL || sizes == NULL || SLOT(dec, d_off[D_SINCE]) == NULL)
        goto twin;
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    if (PyByteArray_GET_SIZE(buf) != 0 || len < 6 || p[4] != 0x94 || p[5] != input_type
        || be(p, 4) != (unsigned long long)(len - 4))
        Py_RETURN_NONE;
    if (failed != Py_None || !PyLong_CheckExact(maxo) || !PyLong_CheckExact(frames)
        || (sizes != Py_None && !PyList_CheckExact(sizes)))
        goto twin;
    long long limit = PyLong_AsLongLong(maxo), count = PyLong_AsLongLong(frames);
    if ((limit == -1 || count == -1) && PyErr_Occurred()) {
        PyErr_Clear();
        goto twin;
    }
    if (len - 4 > limit || count == LLONG_MAX)
        goto twin;
    const unsigned char *end = p + len;
    p += 6;
    unsigned long long seq, ack;
    if (!read_uint(&p, end, &seq) || seq > 0xFFFFFFFFULL || !read_uint(&p, end, &ack)
        || ack > 0xFFFFFFFFULL)
        goto twin;
    PyObject *payload = read_payload(p, end);
    if (payload == NULL)
        return NULL;
    if (payload == TWIN)
        goto twin;
    PyObject *msg = Input_T->tp_alloc(Input_T, 0);
    PyObject *s = PyLong_FromUnsignedLongLong(seq), *a = PyLong_FromUnsignedLongLong(ack);
    PyObject *n = PyLong_FromLongLong(count + 1);
    PyObject *size = PyLong_FromSsize_t(len - 4);
    if (msg == NULL || s == NULL || a == NULL || n == NULL || size == NULL
        || (sizes != Py_None && (PyList_SetSlice(sizes, 0, PyList_GET_SIZE(sizes), NULL) < 0
                                 || PyList_Append(sizes, size) < 0))) {
        Py_XDECREF(msg);
        Py_XDECREF(s);
        Py_XDECREF(a);
        Py_XDECREF(n);
        Py_XDECREF(size);
        Py_DECREF(payload);
        return NULL;
    }
    Py_DECREF(size);
    slot_set(msg, i_off[I_SEQ], s);
    slot_set(msg, i_off[I_ACK], a);
    slot_set(msg, i_off[I_PAYLOAD], payload);
    slot_set(dec, d_off[D_FRAMES], n);
    slot_set(dec, d_off[D_SINCE], Py_NewRef(Py_None));
    return msg;
twin:
    if (input_twin == NULL) {
        PyErr_SetString(PyExc_TypeError, "read_input before setup_input");
        return NULL;
    }
    return PyObject_Vectorcall(input_twin, args, nargs, NULL);
}
