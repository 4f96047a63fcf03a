"""Ping-pong: two tasklets bounce a counter over a pair of channels."""
import stackless


def ping(out, inp, n):
    for i in range(n):
        print("ping", i)
        out.send(i)
        reply = inp.receive()
        if reply != i:
            print("bad reply", reply)
    out.send(None)
    print("ping done")


def pong(inp, out):
    while True:
        v = inp.receive()
        if v is None:
            print("pong done")
            return
        print("pong", v)
        out.send(v)


a = stackless.channel()
b = stackless.channel()
stackless.tasklet(ping)(a, b, 3)
stackless.tasklet(pong)(a, b)
stackless.run()
print("done", a.balance, b.balance, stackless.getruncount())
