"""The parts of the ``stackless``-compatible module (``sim.stackless``) that are not the
kernel's own: Stackless's channel with its preference and callbacks. Built on the kernel.
"""
