/* sim._speedups: the kernel's and the world's hottest paths in C.
 *
 * Every function here has a pure-Python twin that stays the reference (and runs when this
 * module is absent, or when LOOM_PURE_PYTHON=1); sim/_twins.py has the table of which is
 * whose twin and where each C version is installed, and installs them.
 * The C versions do only the common case, the one that runs at nearly every switch, and
 * hand everything else to the Python twin *before* changing any state:
 *
 *   switch(sched, cur, nxt)   the kernel's switch (budget accounting included), when no
 *                             soft interrupt is due, no hook is set and nxt has started;
 *                             otherwise Scheduler._switch_py does the whole switch.
 *   ready(t), block(cur...)   the door's two hot primitives (Scheduler.ready and .block;
 *                             the twins are _ready_py and _block_py).
 *   channel_send/_receive     sim.stackless's channel.send and .receive, when no callback,
 *                             no schedule_all and no other thread is involved.
 *   kchannel_send/_recv       sim.Channel's send and recv, unless the channel is closed
 *                             or the caller refuses to block (block_trap, switch_trap).
 *   journal_send/_recv        a durable tasklet's Journal.send and .recv: the channel call
 *                             and its entry, when recording a plain value.
 *   park(t, world, due)       a behaviour parks on its world's tick wheel.
 *   next_tick()               park(current, world, world._tick + 1).
 *   sleep_until(world, when)  park until the tick of a simulation time.
 *   wake(...), sweep(...)     the tick's loops over the behaviours woken from the wheel.
 *   grid_query(...)           Grid.query_radius: the cells a disc touches, scanned, and
 *                             the ids sorted, across a wrapping grid's seam too.
 *   query_radius(...)         World.query_radius: the same scan; each hit is an entity,
 *                             its own grid record.
 *   move_wrapped(...)         Grid.move_all's loop: the world's motion, every tick.
 *   grid_index(grid)          a grid's positions copied into one array by cell, for many
 *   index_query(...)          radius queries while it does not change (one per viewer of
 *                             a snapshot): Grid.query_radius's ids without its lookups.
 *   interest_see(...)         a viewer's view on such an index, with hysteresis: the ids
 *                             within its radius, those still within the leave radius,
 *                             what came and what went.
 *   interest_delta(...)       what one viewer of a snapshot must be sent: the ids that
 *                             entered its view and those that changed, their records.
 *   grid_nearest(...)         Grid.nearest_first: ids by distance, the order in which a
 *                             snapshot's byte budget keeps records.
 *   snapshot_frame(...)       net.snapshot_frame: a SNAPSHOT frame around records
 *                             encoded once and shared.
 *   sync_client(...)          server.sync's Sync._client: one client's view (interest_see)
 *                             and SNAPSHOT (interest_delta, snapshot_frame) in one call.
 *   alias(...)                a read-only view of another attribute (World.tick).
 *   pair(...)                 a data descriptor reading two slots as a tuple (Entity.pos,
 *                             Entity.vel); setting calls the Python setter.
 *   readonly_slot(...)        a member descriptor for a slot (Entity.x, Entity.y).
 *   Core                      Tasklet's base: its counters as C integers.
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
 * loads it takes its addresses from are of Loom's own objects (a tasklet's or an entity's
 * slots), held alive and already prefetched.
 *
 * # Discussion: what this C reads.
 * Other projects' objects (CPython's, greenlet's) only through their public C APIs: no
 * private function, no field of a private structure, no guessed layout.  Raw loads at
 * fixed offsets are of Loom's own types only, at offsets read from their member
 * descriptors (slots_of()).  Greenlet's stack copies and frames, and CPython's dict tables,
 * are not touched, not even to prefetch them: a release of either may move them.
 *
 * # The files, by layer (each includes the headers of the layers below it).
 *   common.h, common.c   what every layer shares: slot access, inline helpers, counters
 *   kernel.h, kernel.c   Core (Tasklet's counters), the switch and its budget, ready and
 *                        block; kernel.h has do_switch, do_ready and do_block, inlined into
 *                        their entry points and (do_block) into the park
 *   grid.h, grid.c       the grid: motion (move_wrapped) and radius queries (grid_query,
 *                        grid_index, index_query and interest_see);
 *                        entity kinds, each its own grid record
 *   world.c              park, next_tick, sleep_until, wake, sweep, World.query_radius
 *   channel.c            sim.stackless's channel: send and receive on the kernel's door
 *   kchannel.c           sim.Channel: send and recv on the kernel's door
 *   journal.c            a durable tasklet's journal recording a channel call
 *   interest.c           interest_delta and grid_nearest, snapshot sync's per-viewer work
 *   snapshot.c           snapshot_frame, a viewer's SNAPSHOT frame (net's wire format,
 *                        its constants given by net._snapshot: setup_snapshot)
 *   movement.c           parse_movement, the standard movement payload's rule
 *   input.c              read_input, a server connection's INPUT frame decoded and parsed
 *                        in one call (net's wire format, its constants given by
 *                        net._connection: setup_input)
 *   sync.c               sync_client, one client's part of server.sync's build
 *   descr.c              pair, alias and readonly_slot, the descriptors of Entity and World
 *   module.c             this map, the method table, method(), counts(), the module's init
 *
 * Single-phase init, process-wide state: like greenlet, this module does not support
 * sub-interpreters.
 */

#include "common.h"

static PyObject *
sp_counts(PyObject *self, PyObject *unused)
{
    return Py_BuildValue("{sKsKsKsKsKsKsKsK}", "fast", n_fast, "slow", n_slow,
                         "grid_fast", n_grid_fast, "grid_slow", n_grid_slow,
                         "prefetch", n_prefetch, "relink", n_relink,
                         "channel_fast", n_chan_fast, "channel_twin", n_chan_twin);
}

/* ------------------------------------------------------------------ methods */

/* The entry points that are methods of a Python class (Scheduler.switch,
   World.sleep_until, World.query_radius, Grid.query_radius), as method descriptors of that
   class (method(cls, name)): a call `obj.name(...)` then passes obj straight in, as it does
   for a method of a built-in type, instead of building a bound method at every call. */

/* key (what method() is asked for) -> the method, under its Python name. */
static struct {
    const char *key;
    PyMethodDef def;
} as_methods[] = {
    {"switch", {"switch", (PyCFunction)(void (*)(void))m_switch, METH_FASTCALL,
                "switch(cur, nxt): the kernel's switch (sim._speedups.switch; the twin is "
                "_switch_py)."}},
    {"ready", {"ready", m_ready, METH_O,
               "ready(t): t runs after everything queued now (sim._speedups.ready; the twin "
               "is _ready_py)."}},
    {"block", {"block", (PyCFunction)(void (*)(void))m_block, METH_FASTCALL,
               "block(cur, chan=None, d=0): cur leaves the ring and the next one runs "
               "(sim._speedups.block; the twin is _block_py)."}},
    {"channel_send", {"send", (PyCFunction)(void (*)(void))m_channel_send,
                      METH_FASTCALL | METH_KEYWORDS,
                      "send(value): send value over the channel (sim._speedups.channel_send; "
                      "the twin is _send_py)."}},
    {"channel_receive", {"receive", (PyCFunction)(void (*)(void))m_channel_receive,
                         METH_FASTCALL | METH_KEYWORDS,
                         "receive(): receive a value over the channel "
                         "(sim._speedups.channel_receive; the twin is _receive_py)."}},
    {"kchannel_send", {"send", (PyCFunction)(void (*)(void))m_kchannel_send,
                       METH_FASTCALL | METH_KEYWORDS,
                       "send(value): send value over the channel (sim._speedups.kchannel_send; "
                       "the twin is _send_py)."}},
    {"kchannel_recv", {"recv", (PyCFunction)(void (*)(void))m_kchannel_recv,
                       METH_FASTCALL | METH_KEYWORDS,
                       "recv(): receive a value from the channel "
                       "(sim._speedups.kchannel_recv; the twin is _recv_py)."}},
    {"journal_send", {"send", (PyCFunction)(void (*)(void))m_journal_send,
                      METH_FASTCALL | METH_KEYWORDS,
                      "send(chan, value, op): op(chan, value) for the durable tasklet, logged "
                      "(sim._speedups.journal_send; the twin is _send_py)."}},
    {"journal_recv", {"recv", (PyCFunction)(void (*)(void))m_journal_recv,
                      METH_FASTCALL | METH_KEYWORDS,
                      "recv(chan, op): op(chan) for the durable tasklet, logged "
                      "(sim._speedups.journal_recv; the twin is _recv_py)."}},
    {"sleep_until", {"sleep_until", (PyCFunction)(void (*)(void))m_sleep_until,
                     METH_FASTCALL | METH_KEYWORDS,
                     "sleep_until(when): World.sleep_until in C (the twin is _sleep_until_py)."}},
    {"query_radius", {"query_radius", (PyCFunction)(void (*)(void))m_query_radius,
                      METH_FASTCALL | METH_KEYWORDS,
                      "query_radius(pos, r, kind=None, *, exclude=None): World.query_radius in "
                      "C (the twin is _query_radius_py)."}},
    {"grid_nearest", {"nearest_first", (PyCFunction)(void (*)(void))m_grid_nearest,
                      METH_FASTCALL | METH_KEYWORDS,
                      "nearest_first(x, y, ids): Grid.nearest_first in C (the twin is "
                      "_nearest_first_py)."}},
    {"sync_client", {"_client", (PyCFunction)(void (*)(void))m_sync_client,
                     METH_FASTCALL | METH_KEYWORDS,
                     "_client(c, build, server_time, input_ack): one client's view and "
                     "SNAPSHOT frame (sim._speedups.sync_client; the twin is _client_py)."}},
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

/* ------------------------------------------------------------------ the module */

static PyMethodDef methods[] = {
    {"switch", (PyCFunction)(void (*)(void))sp_switch, METH_FASTCALL,
     "switch(sched, cur, nxt): Scheduler.switch (the twin is _switch_py)."},
    {"ready", (PyCFunction)(void (*)(void))sp_ready, METH_FASTCALL,
     "ready(sched, t): Scheduler.ready, the door's ready (the twin is _ready_py)."},
    {"block", (PyCFunction)(void (*)(void))sp_block, METH_FASTCALL,
     "block(sched, cur, chan=None, d=0): Scheduler.block, the door's block (the twin is "
     "_block_py)."},
    {"park", (PyCFunction)(void (*)(void))sp_park, METH_FASTCALL,
     "park(t, world, due): sim._world.behaviour.park."},
    {"next_tick", sp_next_tick, METH_NOARGS,
     "next_tick()\n--\n\n"
     "Sleep until the next tick of the calling behaviour's world.\n\n"
     "The straight-line loop of a behaviour: ``while True: ...; next_tick()``.  Behaviours\n"
     "woken in a tick run in the order they went to sleep.  Sleepers cost nothing per tick.\n"
     "Raises WorldError outside an entity behaviour."},
    {"wake", (PyCFunction)(void (*)(void))sp_wake, METH_FASTCALL,
     "wake(woken, tick, ready): the tick's wake loop (the twin is _wake_loop)."},
    {"sweep", (PyCFunction)(void (*)(void))sp_sweep, METH_FASTCALL,
     "sweep(woken, units_mode, limit, over, unparked): the tick's charge loop (the twin is "
     "_sweep_loop)."},
    {"sleep_until", (PyCFunction)(void (*)(void))sp_sleep_until, METH_FASTCALL,
     "sleep_until(world, when): World.sleep_until (the twin is _sleep_until_py)."},
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
     "loop for a wrapping grid without subscriptions (the twin is _move_wrapped_py)."},
    {"pair", sp_pair, METH_VARARGS,
     "pair(owner, a, b, fset, name, doc, moving=None): an (obj.a, obj.b) tuple "
     "descriptor (see Pair in descr.c)."},
    {"readonly_slot", sp_readonly_slot, METH_VARARGS,
     "readonly_slot(type, slot, name, doc): a read-only member descriptor for type's slot."},
    {"alias", sp_alias, METH_VARARGS,
     "alias(target, name, doc): a read-only descriptor for obj.__dict__[target]."},
    {"channel_send", (PyCFunction)(void (*)(void))sp_channel_send,
     METH_FASTCALL | METH_KEYWORDS,
     "channel_send(chan, value): sim.stackless channel.send (the twin is _send_py)."},
    {"channel_receive", (PyCFunction)(void (*)(void))sp_channel_receive,
     METH_FASTCALL | METH_KEYWORDS,
     "channel_receive(chan): sim.stackless channel.receive (the twin is _receive_py)."},
    {"grid_nearest", (PyCFunction)(void (*)(void))sp_grid_nearest,
     METH_FASTCALL | METH_KEYWORDS,
     "grid_nearest(grid, x, y, ids): Grid.nearest_first (the twin is _nearest_first_py)."},
    {"grid_index", sp_grid_index, METH_O,
     "grid_index(grid): an index of the grid as it is, for index_query (the twin is "
     "sim._world.interest.grid_index)."},
    {"index_query", (PyCFunction)(void (*)(void))sp_index_query, METH_FASTCALL,
     "index_query(index, x, y, r): grid.query_radius(x, y, r) on the indexed grid (the twin "
     "is sim._world.interest.index_query)."},
    {"interest_see", (PyCFunction)(void (*)(void))sp_interest_see, METH_FASTCALL,
     "interest_see(index, x, y, r, leave, visible): a viewer's view with hysteresis, what "
     "came and what went (the twin is sim._world.interest._interest_see_py)."},
    {"interest_delta", (PyCFunction)(void (*)(void))sp_interest_delta, METH_FASTCALL,
     "interest_delta(visible, held, skip, changed, full, deltas, make_full, make_delta): "
     "a viewer's delta (the twin is sim._world.interest.interest_delta)."},
    {"snapshot_frame", (PyCFunction)(void (*)(void))sp_snapshot_frame,
     METH_FASTCALL | METH_KEYWORDS,
     "snapshot_frame(num, base, tick, input_ack, server_time, time_scale, records, removed, "
     "max_frame=..., *, records_size=None): net.snapshot_frame (the twin is "
     "net._snapshot._snapshot_frame_py)."},
    {"parse_movement", (PyCFunction)(void (*)(void))sp_parse_movement, METH_FASTCALL,
     "parse_movement(payload, error): the movement rule (the twin is "
     "sim._limits._parse_movement)."},
    {"setup_movement", sp_setup_movement, METH_VARARGS,
     "setup_movement(Movement, twin): for parse_movement (install() calls it)."},
    {"read_input", (PyCFunction)(void (*)(void))sp_read_input, METH_FASTCALL,
     "read_input(decoder, data, now): one whole INPUT frame decoded and parsed, or None "
     "(the twin is net._connection._read_input_py)."},
    {"setup_input", sp_setup_input, METH_VARARGS,
     "setup_input(Decoder, Input, twin, max_key_len, max_str_len, max_abs_float, max_int, "
     "input_type): for read_input (net._connection calls it)."},
    {"sync_client", (PyCFunction)(void (*)(void))sp_sync_client, METH_FASTCALL | METH_KEYWORDS,
     "sync_client(sync, c, build, server_time, input_ack): server.sync's Sync._client (the "
     "twin is Sync._client_py)."},
    {"setup_sync", sp_setup_sync, METH_VARARGS,
     "setup_sync(Sync, Records, _Client, _Held, Tracked, max_records): for sync_client "
     "(server.sync calls it)."},
    {"setup_snapshot", sp_setup_snapshot, METH_VARARGS,
     "setup_snapshot(twin, type_bytes, max_entities, max_frame): for snapshot_frame "
     "(net._snapshot calls it)."},
    {"setup_channel", sp_setup_channel, METH_VARARGS,
     "setup_channel(channel, kernel_module): for channel_send and channel_receive."},
    {"kchannel_send", (PyCFunction)(void (*)(void))sp_kchannel_send,
     METH_FASTCALL | METH_KEYWORDS,
     "kchannel_send(chan, value): sim.Channel.send (the twin is _send_py)."},
    {"kchannel_recv", (PyCFunction)(void (*)(void))sp_kchannel_recv,
     METH_FASTCALL | METH_KEYWORDS,
     "kchannel_recv(chan): sim.Channel.recv (the twin is _recv_py)."},
    {"setup_kchannel", sp_setup_kchannel, METH_VARARGS,
     "setup_kchannel(Channel): for kchannel_send and kchannel_recv."},
    {"journal_send", (PyCFunction)(void (*)(void))sp_journal_send,
     METH_FASTCALL | METH_KEYWORDS,
     "journal_send(journal, chan, value, op): Journal.send (the twin is _send_py)."},
    {"journal_recv", (PyCFunction)(void (*)(void))sp_journal_recv,
     METH_FASTCALL | METH_KEYWORDS,
     "journal_recv(journal, chan, op): Journal.recv (the twin is _recv_py)."},
    {"setup_journal", sp_setup_journal, METH_VARARGS,
     "setup_journal(Journal, freeze): for journal_send and journal_recv."},
    {"setup", sp_setup, METH_VARARGS,
     "setup(Tasklet, Scheduler, Budget, BUDGET, FLAG, bomb, switch_py, Watchdog, WINDOW)."},
    {"setup_world", sp_setup_world, METH_VARARGS,
     "setup_world(BehaviourTasklet, WorldError, thread_local)."},
    {"bind_thread", sp_bind_thread, METH_O,
     "bind_thread(sched): the calling thread's scheduler, for next_tick/sleep_until."},
    {"method", sp_method, METH_VARARGS,
     "method(cls, name): a method descriptor of cls for the C method name (switch, ready, "
     "block, channel_send, channel_receive, kchannel_send, kchannel_recv, journal_send, "
     "journal_recv, sleep_until, "
     "query_radius, grid_query, grid_nearest, sync_client)."},
    {"counts", sp_counts, METH_NOARGS,
     "counts() -> {'fast': switches done in C, 'slow': handed to Scheduler._switch_py, "
     "'grid_fast' / 'grid_slow': radius queries done in C / handed to the twin, "
     "'prefetch': parks that prefetched the behaviours resumed after the next, "
     "'relink': cell changes of move_all() done in C, 'channel_fast' / 'channel_twin': "
     "sim.stackless channel sends and receives done in C / handed to the twin}."},
    {"set_hooks", sp_set_hooks, METH_O, "set_hooks(flag): switch hooks are (not) set."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sim._speedups",
    "The kernel's hottest paths in C (see the comment at the top of sim/_c/module.c).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (kernel_init(m) < 0 || grid_init(m) < 0 || world_init(m) < 0 || descr_init(m) < 0
        || channel_init(m) < 0 || journal_init(m) < 0 || kchannel_init(m) < 0
        || interest_init(m) < 0 || snapshot_init(m) < 0 || sync_init(m) < 0
        || movement_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
