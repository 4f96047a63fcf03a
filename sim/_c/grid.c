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
static PyObject *str_query_radius, *str_nx, *str_ny, *str_w, *str_h, *str_invx, *str_invy, *str_stride,
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

/* A grid's geometry, as its attributes hold it (nx == 0: a plane). */
typedef struct {
    long long nx, ny, stride;
    double w, h, invx, invy;
} Geom;

/* The geometry of a Grid: 1, 0 (an attribute of another type: the twin decides), -1. */
static int
geom_of(PyObject *grid, Geom *g)
{
    int ok;
    g->w = g->h = 0;
    if ((ok = attr_ll(grid, str_nx, &g->nx)) <= 0 || (ok = attr_ll(grid, str_ny, &g->ny)) <= 0
        || (ok = attr_ll(grid, str_stride, &g->stride)) <= 0
        || (ok = attr_double(grid, str_invx, &g->invx)) <= 0
        || (ok = attr_double(grid, str_invy, &g->invy)) <= 0
        || (g->nx && ((ok = attr_double(grid, str_w, &g->w)) <= 0
                      || (ok = attr_double(grid, str_h, &g->h)) <= 0)))
        return ok;
    return 1;
}

/* The cells a disc touches: columns a .. a + ncols - 1 and rows c .. c + nrows - 1 (taken
   modulo the grid when seam), or every occupied cell (every). */
typedef struct {
    long long a, c, ncols, nrows;
    int every;
} Span;

/* The disc of radius r around (x, y) (x and y already taken modulo a wrapping grid) over
   a grid of `occupied` non-empty cells: 1, or 0 when the cell range overflows (NaN and
   infinities too: the twin raises as Python does).  The twin's arithmetic, in its order. */
static int
plan_disc(const Geom *g, double x, double y, double r, Py_ssize_t occupied, Disc *q, Span *s)
{
    double fa = floor((x - r) * g->invx - grid_eps), fb = floor((x + r) * g->invx + grid_eps);
    double fc = floor((y - r) * g->invy - grid_eps), fd = floor((y + r) * g->invy + grid_eps);
    if (!(fabs(fa) < CELL_LIMIT && fabs(fb) < CELL_LIMIT && fabs(fc) < CELL_LIMIT
          && fabs(fd) < CELL_LIMIT))
        return 0;
    long long a = (long long)fa, b = (long long)fb, c = (long long)fc, d = (long long)fd;
    long long nx = g->nx, ny = g->ny;
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
    *q = (Disc){x, y, r * r, g->w, g->h, g->w * 0.5, g->h * 0.5, seam, 0, 0};
    /* More cells in the square than occupied ones (a huge radius): every occupied cell.
       The distance alone decides, as in the cells the square covers. */
    *s = (Span){a, c, ncols, nrows, (double)ncols * (double)nrows > (double)occupied};
    return 1;
}

/* The fast path of Grid.query_radius: the hits, sorted by id.  1: done; 0: the twin's
   business (nothing was changed); -1: an error. */
static int
scan(PyObject *grid, PyObject *xo, PyObject *yo, PyObject *ro, PyObject *kind, PyObject *ex,
     Hits *hits)
{
    double x, y, r;
    Geom g;
    long long exv = 0;
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
    if ((ok = geom_of(grid, &g)) <= 0)
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
    if (g.nx) {
        x = pymod(x, g.w);
        y = pymod(y, g.h);
    }
    Disc q;
    Span s;
    if (!plan_disc(&g, x, y, r, PyDict_GET_SIZE(cells), &q, &s))
        goto done;
    q.has_ex = has_ex;
    q.exv = exv;
    long long nx = g.nx, ny = g.ny;
    if (s.every) {
        Py_ssize_t pos = 0;
        PyObject *key, *cell;
        while (PyDict_Next(cells, &pos, &key, &cell)) {
            if ((rc = scan_cell(cell, &q, hits)) <= 0)
                goto done;
        }
    }
    else {
        PyObject *cellv[MAX_BATCH];
        int nc = 0, batch = s.ncols * s.nrows <= MAX_BATCH;
        rc = 1;
        for (long long i = 0; rc > 0 && i < s.ncols; i++) {
            long long cx = q.seam ? ((s.a + i) % nx + nx) % nx : s.a + i;
            long long base = cx * g.stride;
            for (long long j = 0; j < s.nrows; j++) {
                long long cy = q.seam ? ((s.c + j) % ny + ny) % ny : s.c + j;
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

/* ------------------------------------------------------------------ grid index */

/* grid_index(grid) and index_query(index, x, y, r) (the twins are in sim._world.interest):
   many radius queries over a grid that does not change meanwhile (snapshot sync makes one
   index per build, then queries it once per viewer).  The index copies each record's
   position and id into one array ordered by cell, so a query reads its cells' entries
   one after another, where Grid.query_radius makes an int key per cell, looks each cell
   up in a dict and follows each record to its two floats.  The same cells, the same
   arithmetic (plan_disc, scan_cell's), so the same ids in the same order as
   Grid.query_radius on the grid as it was.  A wrapping Grid of float positions in slots
   and int ids is indexed; any other grid is its own index (the twin's way), queried with
   grid.query_radius(x, y, r). */

#define INDEX_NAME "sim._speedups.grid_index"
#define INDEX_MAX_CELLS (1LL << 22)

typedef struct {
    double x, y;
    long long id;
    PyObject *idobj;  /* held by the index */
    Py_ssize_t rank;  /* its place in the index's byid */
} Entry;

/* An entry by id: for interest_see's hysteresis, and the order of a query's hits. */
typedef struct {
    long long id;
    double x, y;
    PyObject *idobj;  /* (the entry's) */
    Py_ssize_t at;  /* the entry's place in e */
} IdPos;

typedef struct {
    Geom g;
    PyObject *grid;  /* held: the fallback for arguments of other types */
    Py_ssize_t occupied, n;  /* non-empty cells, entries */
    Py_ssize_t *start;  /* nx * ny + 1: cell k's entries are e[start[k] .. start[k + 1]) */
    Entry *e;
    IdPos *byid;  /* the n entries sorted by id */
    uint64_t *marks;  /* a bit per entry of byid, all clear between queries */
} Index;

static void
index_free(Index *ix)
{
    for (Py_ssize_t i = 0; i < ix->n; i++)
        Py_XDECREF(ix->e[i].idobj);
    Py_XDECREF(ix->grid);
    PyMem_Free(ix->start);
    PyMem_Free(ix->e);
    PyMem_Free(ix->byid);
    PyMem_Free(ix->marks);
    PyMem_Free(ix);
}

static void
index_destroy(PyObject *capsule)
{
    Index *ix = PyCapsule_GetPointer(capsule, INDEX_NAME);
    if (ix != NULL)
        index_free(ix);
    else
        PyErr_Clear();
}

static int
idpos_cmp(const void *a, const void *b)
{
    long long x = ((const IdPos *)a)->id, y = ((const IdPos *)b)->id;
    return (x > y) - (x < y);
}

/* Fill ix from the cells: 1, 0 (a cell, key, id or record of another shape), -1. */
static int
index_fill(Index *ix, PyObject *cells)
{
    long long ncell = ix->g.nx * ix->g.ny;
    Py_ssize_t pos = 0, n = 0;
    PyObject *key, *cell;
    /* First the count of each cell, then the entries in place. */
    while (PyDict_Next(cells, &pos, &key, &cell)) {
        if (!PyLong_CheckExact(key) || !PyDict_CheckExact(cell))
            return 0;
        int overflow;
        long long k = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (overflow || k < 0 || k >= ncell)
            return 0;
        ix->start[k + 1] = PyDict_GET_SIZE(cell);
        n += PyDict_GET_SIZE(cell);
    }
    for (long long k = 0; k < ncell; k++)
        ix->start[k + 1] += ix->start[k];
    if ((ix->e = PyMem_Malloc((n ? n : 1) * sizeof(Entry))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    pos = 0;
    while (PyDict_Next(cells, &pos, &key, &cell)) {
        long long k = PyLong_AsLongLong(key);  /* checked above */
        Py_ssize_t at = ix->start[k], end = ix->start[k + 1], cpos = 0;
        PyObject *id, *rec;
        while (PyDict_Next(cell, &cpos, &id, &rec)) {
            Py_ssize_t xoff, yoff;
            if (at == end)
                return 0;  /* (a cell that grew meanwhile: not a grid's) */
            int found = xy_of(Py_TYPE(rec), &xoff, &yoff);
            if (found <= 0)
                return found;
            PyObject *px = SLOT(rec, xoff), *py = SLOT(rec, yoff);
            if (px == NULL || py == NULL || !PyFloat_CheckExact(px) || !PyFloat_CheckExact(py)
                || !PyLong_CheckExact(id))
                return 0;
            int overflow;
            long long idv = PyLong_AsLongLongAndOverflow(id, &overflow);
            if (overflow)
                return 0;
            ix->e[at++] = (Entry){PyFloat_AS_DOUBLE(px), PyFloat_AS_DOUBLE(py), idv,
                                  Py_NewRef(id), 0};
            ix->n++;
        }
    }
    if (ix->n != n)
        return 0;  /* (a cell that changed size meanwhile: not a grid's) */
    if ((ix->byid = PyMem_Malloc((n ? n : 1) * sizeof(IdPos))) == NULL
        || (ix->marks = PyMem_Calloc(n / 64 + 1, sizeof(uint64_t))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        ix->byid[i] = (IdPos){ix->e[i].id, ix->e[i].x, ix->e[i].y, ix->e[i].idobj, i};
    qsort(ix->byid, n, sizeof(IdPos), idpos_cmp);
    for (Py_ssize_t k = 0; k < n; k++)
        ix->e[ix->byid[k].at].rank = k;
    return 1;
}

/* The index of grid, or NULL with rc 0 when it is not indexed here (-1: an error). */
static PyObject *
index_make(PyObject *grid, int *rc)
{
    Geom g;
    *rc = 0;
    if (Py_TYPE(grid) != Grid_T || (*rc = geom_of(grid, &g)) <= 0)
        return NULL;
    *rc = 0;
    if (!g.nx || g.stride != g.ny || g.nx * g.ny > INDEX_MAX_CELLS)
        return NULL;  /* a plane, or a huge grid: its own index */
    PyObject *cells = inst_attr(grid, str_cells);
    if (cells == NULL) {
        *rc = -1;
        return NULL;
    }
    PyObject *out = NULL;
    Index *ix = PyMem_Calloc(1, sizeof(Index));
    *rc = -1;
    if (ix == NULL)
        PyErr_NoMemory();
    else {
        ix->g = g;
        ix->grid = Py_NewRef(grid);
        *rc = 0;
        if (PyDict_CheckExact(cells)) {
            ix->occupied = PyDict_GET_SIZE(cells);
            ix->start = PyMem_Calloc(g.nx * g.ny + 1, sizeof(Py_ssize_t));
            *rc = ix->start == NULL ? (PyErr_NoMemory(), -1) : index_fill(ix, cells);
        }
        if (*rc > 0 && (out = PyCapsule_New(ix, INDEX_NAME, index_destroy)) == NULL)
            *rc = -1;
        if (out == NULL)
            index_free(ix);
    }
    Py_DECREF(cells);
    return out;
}

PyObject *
sp_grid_index(PyObject *self, PyObject *grid)
{
    int rc;
    PyObject *ix = index_make(grid, &rc);
    return rc ? ix : Py_NewRef(grid);
}

/* A hit of an index query: the id, and its object (borrowed from the index). */
typedef struct {
    long long id;
    PyObject *obj;
} IdHit;

/* The entries of e .. end within the disc, marked (their bits in marks). */
static inline void
index_range(const Entry *e, const Entry *end, const Disc *q, uint64_t *marks)
{
    for (; e < end; e++) {
        double dx, dy;
        if (q->seam) {
            dx = fabs(e->x - q->x);
            dy = fabs(e->y - q->y);
            if (dx > q->hw)
                dx = q->w - dx;
            if (dy > q->hh)
                dy = q->h - dy;
        }
        else {
            dx = e->x - q->x;
            dy = e->y - q->y;
        }
        if (dx * dx + dy * dy <= q->r2)
            marks[e->rank >> 6] |= (uint64_t)1 << (e->rank & 63);
    }
}

/* The hits of a disc, sorted by id, in *v (small, or a PyMem block the caller frees when
   it is not small; room for 256 in small): 1, 0 (the cell range overflows: the grid's
   business), -1 (an error). */
static int
index_hits(const Index *ix, double x, double y, double r, IdHit *small, IdHit **v,
           Py_ssize_t *n)
{
    Disc q;
    Span s;
    *v = small;
    *n = 0;
    if (ix->n == 0)
        return 1;
    x = pymod(x, ix->g.w);
    y = pymod(y, ix->g.h);
    if (!plan_disc(&ix->g, x, y, r, ix->occupied, &q, &s))
        return 0;
    long long nx = ix->g.nx, ny = ix->g.ny, small_rows[64], *rows = small_rows;
    if (ix->n > 256 && (*v = PyMem_Malloc(ix->n * sizeof(IdHit))) == NULL) {
        *v = small;
        PyErr_NoMemory();
        return -1;
    }
    if (!s.every && s.nrows > 64 && (rows = PyMem_Malloc(s.nrows * sizeof(long long))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    const Entry *e = ix->e;
    if (s.every)
        index_range(e, e + ix->n, &q, ix->marks);  /* every occupied cell's entries */
    else {
        for (long long j = 0; j < s.nrows; j++)
            rows[j] = q.seam ? ((s.c + j) % ny + ny) % ny : s.c + j;
        for (long long i = 0; i < s.ncols; i++) {
            long long cx = q.seam ? ((s.a + i) % nx + nx) % nx : s.a + i;
            const Py_ssize_t *col = ix->start + cx * ny;
            for (long long j = 0; j < s.nrows; j++)
                index_range(e + col[rows[j]], e + col[rows[j] + 1], &q, ix->marks);
        }
        if (rows != small_rows)
            PyMem_Free(rows);
    }
    /* The marked entries in the order of byid: sorted by id, as the twin's out.sort()
       orders int ids (they are unique); the marks cleared for the next query. */
    for (Py_ssize_t w = 0; w <= ix->n / 64; w++) {
        for (uint64_t bits = ix->marks[w]; bits; bits &= bits - 1) {
            const IdPos *p = ix->byid + w * 64 + __builtin_ctzll(bits);
            (*v)[(*n)++] = (IdHit){p->id, p->idobj};
        }
        ix->marks[w] = 0;
    }
    return 1;
}

/* The ids of hits as a list (new references). */
static PyObject *
idhits_list(const IdHit *v, Py_ssize_t n)
{
    PyObject *out = PyList_New(n);
    if (out != NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            PyList_SET_ITEM(out, i, Py_NewRef(v[i].obj));
    }
    return out;
}

/* The query on an index: a list, or NULL with an error, or NULL without one when the
   grid is to be asked instead. */
static PyObject *
index_scan(const Index *ix, double x, double y, double r)
{
    IdHit small[256], *v;
    Py_ssize_t n;
    int rc = index_hits(ix, x, y, r, small, &v, &n);
    PyObject *out = rc > 0 ? idhits_list(v, n) : NULL;
    if (v != small)
        PyMem_Free(v);
    return out;
}

/* The index a capsule holds, or NULL (no error) for anything else. */
static Index *
index_arg(PyObject *o)
{
    return PyCapsule_IsValid(o, INDEX_NAME) ? PyCapsule_GetPointer(o, INDEX_NAME) : NULL;
}

PyObject *
sp_index_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "index_query() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *index = args[0];
    Index *ix = index_arg(index);
    double x, y, r;
    if (ix != NULL && exact_double(args[1], 9007199254740992.0, &x)
        && exact_double(args[2], 9007199254740992.0, &y)
        && exact_double(args[3], 67108864.0, &r)) {
        PyObject *out = index_scan(ix, x, y, r);
        if (out != NULL || PyErr_Occurred())
            return out;
    }
    /* Not an index of ours, or arguments Grid.query_radius's twin deals with. */
    PyObject *grid = ix != NULL ? ix->grid : index;
    PyObject *call[4] = {grid, args[1], args[2], args[3]};
    return PyObject_VectorcallMethod(str_query_radius, call, 4, NULL);
}

/* The position of id in the index (as the grid had it): 1, or 0 when it is not there. */
static int
index_position(const Index *ix, long long id, double *x, double *y)
{
    Py_ssize_t lo = 0, hi = ix->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (ix->byid[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ix->n || ix->byid[lo].id != id)
        return 0;
    *x = ix->byid[lo].x;
    *y = ix->byid[lo].y;
    return 1;
}

/* Grid.distance2 on a wrapping grid, its arithmetic in its order. */
static double
wrapped_d2(const Geom *g, double x0, double y0, double x1, double y1)
{
    double dx = pymod(fabs(x1 - x0), g->w), dy = pymod(fabs(y1 - y0), g->h);
    if (dx > g->w * 0.5)
        dx = g->w - dx;
    if (dy > g->h * 0.5)
        dy = g->h - dy;
    return dx * dx + dy * dy;
}

int
sorted_ids(PyObject *list, IdList *out)
{
    out->v = out->small;
    out->n = 0;
    if (!PyList_CheckExact(list))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n > ID_SMALL && (out->v = PyMem_Malloc(n * sizeof(long long))) == NULL) {
        out->v = out->small;
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        int overflow;
        long long id = PyLong_CheckExact(o) ? PyLong_AsLongLongAndOverflow(o, &overflow) : 0;
        if (!PyLong_CheckExact(o) || overflow || (i && id <= out->v[i - 1]))
            return 0;
        out->v[i] = id;
    }
    out->n = n;
    return 1;
}

void
idlist_free(IdList *l)
{
    if (l->v != l->small)
        PyMem_Free(l->v);
}

/* interest_see(index, x, y, r, leave, visible) (the twin is
   sim._world.interest._interest_see_py, which says what it does): a viewer's view with
   hysteresis, on an index of ours, float (or small int) arguments and a sorted list of
   int ids, by merging the sorted ids of the view before and the radius query now; the
   twin does anything else, called before anything is made. */

static PyObject *see_twin;  /* sim._world.interest._interest_see_py, once needed */

/* The twin on the same arguments, but the grid for an index of ours. */
static PyObject *
see_by_twin(PyObject *const *given, const Index *ix)
{
    PyObject *args[6] = {ix != NULL ? ix->grid : given[0], given[1], given[2], given[3],
                         given[4], given[5]};
    if (see_twin == NULL) {
        PyObject *m = PyImport_ImportModule("sim._world.interest");
        if (m == NULL)
            return NULL;
        see_twin = PyObject_GetAttrString(m, "_interest_see_py");
        Py_DECREF(m);
        if (see_twin == NULL)
            return NULL;
    }
    return PyObject_Vectorcall(see_twin, args, 6, NULL);
}

/* Merge the view before (vis, its list `visible`) with the hits now: the ids that came
   (in came), those of the band (seen, beyond r now) still within leave2 (kept, ids of
   `visible`'s, held) and those gone (in gone).  0 or -1. */
static int
see_merge(const Index *ix, double x, double y, double leave2, const IdList *vis,
          PyObject *visible, const IdHit *hits, Py_ssize_t nhits, PyObject *came,
          IdHit *kept, Py_ssize_t *nkept, PyObject *gone)
{
    Py_ssize_t i = 0, j = 0, n = vis->n;
    *nkept = 0;
    while (i < n || j < nhits) {
        if (j == nhits || (i < n && vis->v[i] < hits[j].id)) {
            /* seen, beyond r now: kept while within the leave radius */
            if (PyList_GET_SIZE(visible) != n) {  /* (changed by a finalizer the lists ran) */
                PyErr_SetString(PyExc_RuntimeError, "interest_see(): the view changed");
                return -1;
            }
            PyObject *o = PyList_GET_ITEM(visible, i);
            double ex, ey;
            if (index_position(ix, vis->v[i], &ex, &ey)
                && wrapped_d2(&ix->g, x, y, ex, ey) <= leave2)
                kept[(*nkept)++] = (IdHit){vis->v[i], Py_NewRef(o)};
            else if (PyList_Append(gone, o) < 0)
                return -1;
            i++;
        }
        else if (i == n || hits[j].id < vis->v[i]) {
            if (PyList_Append(came, hits[j].obj) < 0)
                return -1;
            j++;
        }
        else {
            i++;
            j++;
        }
    }
    return 0;
}

PyObject *
sp_interest_see(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "interest_see() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *visible = args[5];
    Index *ix = index_arg(args[0]);
    double x, y, r, leave;
    IdList vis;
    int rc;
    vis.v = vis.small;
    if (ix == NULL || !exact_double(args[1], 9007199254740992.0, &x)
        || !exact_double(args[2], 9007199254740992.0, &y)
        || !exact_double(args[3], 67108864.0, &r) || !exact_double(args[4], 67108864.0, &leave)
        || (rc = sorted_ids(visible, &vis)) == 0) {
        idlist_free(&vis);  /* (set up by sorted_ids, when it was reached) */
        return see_by_twin(args, ix);
    }
    if (rc < 0)
        return NULL;
    IdHit hsmall[256], *hits, *kept = NULL;
    Py_ssize_t nhits = 0, nkept = 0;
    PyObject *came = NULL, *gone = NULL, *out = NULL, *now = NULL;
    rc = index_hits(ix, x, y, r, hsmall, &hits, &nhits);
    if (rc == 0) {
        out = see_by_twin(args, ix);
        goto done;
    }
    if (rc < 0 || (came = PyList_New(0)) == NULL || (gone = PyList_New(0)) == NULL)
        goto done;
    if ((kept = PyMem_Malloc((vis.n ? vis.n : 1) * sizeof(IdHit))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (see_merge(ix, x, y, leave * leave, &vis, visible, hits, nhits, came, kept, &nkept,
                  gone) < 0)
        goto done;
    if (PyList_GET_SIZE(came) == 0 && PyList_GET_SIZE(gone) == 0)
        now = Py_NewRef(visible);
    else if ((now = PyList_New(nhits + nkept)) != NULL) {
        /* the hits and those kept, both sorted by id: merged */
        Py_ssize_t a = 0, b = 0;
        for (Py_ssize_t k = 0; k < nhits + nkept; k++) {
            int from_hits = b == nkept || (a < nhits && hits[a].id < kept[b].id);
            PyList_SET_ITEM(now, k, Py_NewRef(from_hits ? hits[a++].obj : kept[b++].obj));
        }
        /* Ints only, and never changed (a view is replaced, not edited): no cycle can pass
           through it, so the cyclic collector need not visit it, as it skips a tuple of
           atomic items.  A sync keeps 32 views per client. */
        PyObject_GC_UnTrack(now);
    }
    if (now != NULL)
        out = PyTuple_Pack(3, now, came, gone);
done:
    for (Py_ssize_t k = 0; k < nkept; k++)
        Py_DECREF(kept[k].obj);
    PyMem_Free(kept);
    Py_XDECREF(now);
    Py_XDECREF(came);
    Py_XDECREF(gone);
    if (hits != hsmall)
        PyMem_Free(hits);
    idlist_free(&vis);
    return out;
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
    return INTERN(str_query_radius, "query_radius") < 0 || INTERN(str_nx, "_nx") < 0
           || INTERN(str_ny, "_ny") < 0 || INTERN(str_w, "_w") < 0
           || INTERN(str_h, "_h") < 0 || INTERN(str_invx, "_invx") < 0
           || INTERN(str_invy, "_invy") < 0 || INTERN(str_stride, "_stride") < 0
           || INTERN(str_cells, "_cells") < 0 || INTERN(str_kind_cells, "_kind_cells") < 0
           ? -1 : 0;
}
