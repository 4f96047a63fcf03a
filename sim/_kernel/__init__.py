"""The kernel: tasklets on greenlet, the per-thread scheduler and its run queue, channels,
interrupts and the preemption modes.

The kernel knows only tasklets, a run queue, channels' wait queues and a timer heap; it
imports nothing above it (``sim._world``, ``sim._stackless``), only the preemption cells
below it (``sim._preempt``). See docs/architecture.md.
"""
