"""The pygame demo client: a window onto a Loom world that plays like a small game. It stands
on `net.Client` (the mirror of the entities in view, resume after a drop), draws each kind of
the arena world, interpolates between snapshots, predicts the own ship, and shows the
server's tick, time dilation and quarantined scripts.

    python -m demos.client --host 127.0.0.1 --port 7777
    python -m demos.client --port 7777 --headless --frames 120 --screenshot shot.png
"""
