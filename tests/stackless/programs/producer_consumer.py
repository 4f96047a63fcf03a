"""Producer/consumer over Stackless channels.

Part one: a consumer iterates over a channel until the producer sends StopIteration.
Part two: two workers wait on one channel; main hands out work, first come first served.
"""
import stackless


def producer(ch, items):
    for item in items:
        print("produce", item)
        ch.send(item)
    print("producer done")
    ch.send_exception(StopIteration)


def consumer(ch):
    total = 0
    for item in ch:
        print("consume", item)
        total += item
    print("consumer total", total)


ch = stackless.channel()
stackless.tasklet(consumer)(ch)
stackless.tasklet(producer)(ch, [1, 2, 3])
stackless.run()
print("main done", ch.balance)

print("-- two workers")


def worker(name, jobs):
    while True:
        item = jobs.receive()
        if item is None:
            print(name, "stops")
            return
        print(name, "got", item)


jobs = stackless.channel()
stackless.tasklet(worker)("w1", jobs)
stackless.tasklet(worker)("w2", jobs)
stackless.run()
print("waiting workers", jobs.balance)
for i in range(1, 5):
    jobs.send(i)
jobs.send(None)
jobs.send(None)
print("main done", jobs.balance, stackless.getruncount())
