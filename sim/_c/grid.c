/* The grid's layer: Grid.move_all's loop for a wrapping grid (move_wrapped, the world's
 * motion every tick) and Grid.query_radius (grid_query); sim/_twins.py lists the twins.
 * The world's entities are grid records of their own (setup_entity).
 */
#include "grid.h"

unsigned long long n_grid_fast, n_grid_slow, n_relink;
PyTypeObject *Entity_T, *kind_seen[2];
Py_ssize_t e_x, e_y, e_id;
PyTypeObject *Grid_T;
PyObject *grid_query_py;
PyObject *grid_nearest_py;
static PyObject *grid_relink_py;  /* Grid._relink, the function */
static double grid_eps;
static PyObject *str_nx, *str_ny, *str_w, *str_h, *str_invx, *str_invy, *str_stride,
    *str_cells, *str_kind_cells;

/* is_entity_type() for a type not memoized: memoized when it is a kind. */
int
entity_kind_new(PyTypeObject *tp)
{
    if (Entity_T == NULL || !PyType_IsSubtype(tp, Entity_T))
        return 0;
    Py_INCREF(tp);
    Py_XSETREF(kind_seen[1], kind_seen[0]);
    kind_seen[0] = tp;
    return 1;
}

/* ------------------------------------------------------------------ motion */

/* Grid.move_all's loop for a wrapping grid without subscriptions (the twin is
   _move_wrapped_py): for each (eid, record) of a dict, x = (x + vx * dt) % w (Python's
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

double
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

/* relink(eid, rec, key): Grid._relink (the twin) done here when relink is that
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

PyObject *
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

/* Grid.query_radius(grid, x, y, r, kind=None, exclude=None) (the twin is
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

int
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
int
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

int
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

static void
hits_release(Hits *h)
{
    if (h->v != h->small)
        PyMem_Free(h->v);
}

void
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

/* A query's cells are looked up first, their dicts prefetched, and only then scanned: the
   loads of all its cells overlap, where scanning each cell as it is found waits for its
   dict, one cell after another.  (Up to MAX_BATCH cells; a bigger square is scanned as
   found.) */
#define MAX_BATCH 36

static int
batch_scan(PyObject **cellv, int nc, const Disc *q, Hits *hits)
{
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

int
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

PyObject *
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

PyObject *
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
    PyObject *nearest = PyObject_GetAttrString((PyObject *)grid, "_nearest_first_py");
    if (nearest == NULL) {
        Py_DECREF(twin);
        Py_DECREF(relink);
        return NULL;
    }
    Py_XSETREF(grid_nearest_py, nearest);
    Py_INCREF(grid);
    Py_XSETREF(Grid_T, grid);
    Py_XSETREF(grid_query_py, twin);
    Py_XSETREF(grid_relink_py, relink);
    grid_eps = eps;
    Py_RETURN_NONE;
}

PyObject *
m_grid_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return with_self(self, args, nargs, kwnames, sp_grid_query);
}

/* ---------------------------------------------------------------- entity records */

PyObject *
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

int
grid_init(PyObject *m)
{
    return INTERN(str_nx, "_nx") < 0 || INTERN(str_ny, "_ny") < 0 || INTERN(str_w, "_w") < 0
           || INTERN(str_h, "_h") < 0 || INTERN(str_invx, "_invx") < 0
           || INTERN(str_invy, "_invy") < 0 || INTERN(str_stride, "_stride") < 0
           || INTERN(str_cells, "_cells") < 0 || INTERN(str_kind_cells, "_kind_cells") < 0
           ? -1 : 0;
}
