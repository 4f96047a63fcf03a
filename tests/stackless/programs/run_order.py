"""Three run-order cases, as real Stackless 3.7.5 prints them (see run_order.expected)."""

import stackless

# 1. Errors are Stackless's own types: a deadlock raises RuntimeError itself, not a subclass.
try:
    stackless.channel().receive()
except Exception as e:
    print(type(e).__name__, e)

# 2. kill() of a scheduled tasklet that never ran switches to it; it ends without running,
#    and the scheduler goes on from its place in the queue: the caller runs when its turn comes.
log = []
a = stackless.tasklet(log.append)("a")
b = stackless.tasklet(log.append)("b")
a.kill()
log.append("main")
stackless.run()
print(log)

# 3. kill(pending=True) of a tasklet that never ran: it stays alive and scheduled until its turn.
c = stackless.tasklet(log.append)("c")
c.kill(pending=True)
print(c.alive, c.scheduled, c.paused)
stackless.run()
print(c.alive, log.count("c"))
