/* The grid's layer as the world sees it: the entity kinds (every one its own grid record),
 * and the radius scan that World.query_radius (world.c) shares with Grid.query_radius.
 */
#ifndef LOOM_SPEEDUPS_GRID_H
#define LOOM_SPEEDUPS_GRID_H

#include "common.h"

#pragma GCC visibility push(hidden)

/* An entity kind: a subclass of sim.Entity, whose grid slots (_x, _y, _key, _kind, _vx,
   _vy) are Entity's own, at Entity's offsets (Entity.__init_subclass__ refuses a kind that
   redefines one).  A world has several kinds, its records alternate between them: the
   last two seen are memoized (each memo holds a reference, so the address cannot come
   back as another type). */
extern PyTypeObject *Entity_T, *kind_seen[2];
extern Py_ssize_t e_x, e_y, e_id;  /* Entity's _x, _y and id slots; 0 until setup_entity */

int entity_kind_new(PyTypeObject *tp);

static inline int
seen_kind(PyTypeObject *tp)
{
    return tp == Entity_T || tp == kind_seen[0] || tp == kind_seen[1];
}

static inline int
is_entity_type(PyTypeObject *tp)
{
    return seen_kind(tp) || entity_kind_new(tp);
}

/* ------------------------------------------------------------------ radius queries */

extern PyTypeObject *Grid_T;
extern PyObject *grid_query_py;  /* Grid._query_radius_py */
extern PyObject *grid_nearest_py;  /* Grid._nearest_first_py */

/* A grid attribute that must be a float / an int in 0..2**32: 1, 0 (it is not: the twin
   decides) or -1 (an error). */
int attr_double(PyObject *grid, PyObject *name, double *v);
int attr_ll(PyObject *grid, PyObject *name, long long *v);

/* float.__mod__ for w > 0. */
double pymod(double v, double w);

/* The x and y slot offsets of a grid record type: 1, 0 (it keeps them elsewhere: the
   twin's business) or -1 (an error). */
int xy_of(PyTypeObject *tp, Py_ssize_t *xo, Py_ssize_t *yo);

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

static inline void
hits_init(Hits *h)
{
    h->v = h->small;
    h->n = 0;
    h->cap = 64;
}

void hits_free(Hits *h);

/* Grid.query_radius's scan: the hits, sorted by id.  1: done; 0: the twin's business
   (nothing was changed); -1: an error. */
int grid_scan(PyObject *grid, PyObject *xo, PyObject *yo, PyObject *ro, PyObject *kind,
              PyObject *ex, Hits *hits);

/* ------------------------------------------------------------------ sorted id lists */

/* A Python list of ids as C integers (up to ID_SMALL without an allocation). */
#define ID_SMALL 256
typedef struct {
    long long *v;
    Py_ssize_t n;
    long long small[ID_SMALL];
} IdList;

/* `list`'s ids when it is a list of ints, each in a long long, strictly ascending: 1, 0
   (it is not), -1 (an error); idlist_free(out) after, whatever it returned. */
int sorted_ids(PyObject *list, IdList *out);
void idlist_free(IdList *l);

#pragma GCC visibility pop

#endif
