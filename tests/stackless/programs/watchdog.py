"""The classic run(timeout) watchdog loop: CPU-bound tasklets are pre-empted, the loop puts
each interrupted tasklet back at the end of the run queue, and every result is exact.

With equal time slices in round robin, the shortest job finishes first.
"""
import stackless


def worker(name, n, results):
    total = 0
    i = 0
    while i < n:
        total += i * i
        i += 1
    results.append((name, total))
    print("done", name)


results = []
for name, n in (("a", 3000), ("b", 1000), ("c", 2000)):
    stackless.tasklet(worker)(name, n, results)

interrupts = 0
while True:
    t = stackless.run(100)
    if t is None:
        break
    if not t.paused:
        print("interrupted tasklet is not paused")
    interrupts += 1
    t.insert()

print("pre-empted more than 3 times:", interrupts > 3)
for name, total in results:
    print(name, total)
print("runcount", stackless.getruncount())
