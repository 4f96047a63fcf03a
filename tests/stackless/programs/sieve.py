"""The prime sieve of chained channels: a counter feeds a chain of filter tasklets, one per
prime found; main reads the primes off the end of the chain."""
import stackless


def counter(out, limit):
    for n in range(2, limit):
        out.send(n)
    out.send(None)


def prime_filter(prime, inp, out):
    while True:
        n = inp.receive()
        if n is None:
            out.send(None)
            return
        if n % prime:
            out.send(n)


def sieve(limit):
    ch = stackless.channel()
    stackless.tasklet(counter)(ch, limit)
    primes = []
    while True:
        p = ch.receive()
        if p is None:
            break
        print("prime", p)
        primes.append(p)
        nxt = stackless.channel()
        stackless.tasklet(prime_filter)(p, ch, nxt)
        ch = nxt
    return primes


primes = sieve(50)
stackless.run()
print(len(primes), "primes below 50, sum", sum(primes))
print("runcount", stackless.getruncount())
