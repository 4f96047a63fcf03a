"""The world: entities whose behaviours are tasklets on a tick clock, their fields, the AOI
grid, supervision and the world-module contract.  Built on the kernel (``sim._kernel``); the
kernel knows nothing of it.

Modules, bottom up (each imports only those before it; tests/test_layout.py checks it):
message, fields, tick, supervise, stats, changes, interest (policies and records that
know no entity), cells and aoi (the grid), entity, behaviour (a behaviour's tasklet,
parking), then the world's parts, wheel (``TickWheel``), supervision (``Supervision``),
population (``Population``),
world (``World``, composed of them), and scripting (the world-module contract).
"""
