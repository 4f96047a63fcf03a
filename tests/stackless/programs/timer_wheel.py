"""A timer wheel of sleeping tasklets: a sleeper parks on its own channel filed under its wake
tick; a ticker tasklet advances the clock and wakes the sleepers due at each tick, in the order
they went to sleep."""
import stackless


class Clock:
    def __init__(self):
        self.now = 0
        self.wheel = {}  # wake tick -> channels, in the order their tasklets went to sleep

    def sleep(self, ticks):
        ch = stackless.channel()
        self.wheel.setdefault(self.now + ticks, []).append(ch)
        ch.receive()

    def ticker(self, until):
        while self.now < until:
            self.now += 1
            due = self.wheel.pop(self.now, [])
            if not due:
                print(f"t={self.now} idle")
            for ch in due:
                ch.send(None)
        print("ticker stops at", self.now)


def sleeper(clock, name, period, times):
    for i in range(times):
        clock.sleep(period)
        print(f"t={clock.now} {name} wakes ({i + 1})")
    print(name, "done")


clock = Clock()
stackless.tasklet(sleeper)(clock, "a", 2, 3)
stackless.tasklet(sleeper)(clock, "b", 3, 2)
stackless.tasklet(sleeper)(clock, "c", 1, 4)
stackless.tasklet(clock.ticker)(6)
stackless.run()
print("pending sleepers", len(clock.wheel), "runcount", stackless.getruncount())
