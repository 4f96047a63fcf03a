"""The world: entities whose behaviours are tasklets on a tick clock, their fields, the AOI
grid, supervision and the world-module contract. Built on the kernel (``sim._kernel``); the
kernel knows nothing of it. See docs/architecture.md.
"""
