#!/usr/bin/python3
"""Twisted's side of weft's asynchronous micro-benchmarks (issue 13), the same operations as
apps/bench/async_bench.cpp, timed with timeit. Prints one JSON object: {name: nanoseconds per operation}.
Run under Debian's /usr/bin/python3 (python3-twisted); tests/bench/async runs it.

  deferred_three_callbacks   Deferred(), three addCallback, callback(1)
  deferred_fired_then_added  Deferred(), callback(1), three addCallback
  coawait_fired              ensureDeferred of a coroutine awaiting an already-fired Deferred
  defer_to_thread_round_trip deferToThread of a no-op, result back on the reactor thread, one at a time
"""
import json
import sys
import timeit

from twisted.internet import defer


def deferred_three_callbacks():
    acc = []
    d = defer.Deferred()
    d.addCallback(lambda v: v + 1).addCallback(lambda v: v * 2).addCallback(acc.append)
    d.callback(1)


def deferred_fired_then_added():
    acc = []
    d = defer.Deferred()
    d.callback(1)
    d.addCallback(lambda v: v + 1).addCallback(lambda v: v * 2).addCallback(acc.append)


async def _await_fired(d):
    return await d


def coawait_fired():
    defer.ensureDeferred(_await_fired(defer.succeed(1)))


def per_op_ns(fn, min_time):
    """Best of five runs of an iteration count that takes about min_time seconds, in ns per call."""
    timer = timeit.Timer(fn)
    n, _ = timer.autorange()
    n = max(1, int(n * min_time / 0.2))
    return min(timer.repeat(repeat=5, number=n)) / n * 1e9


def thread_round_trip_ns(count):
    """`count` sequential deferToThread round trips on a running reactor; ns per round trip."""
    from twisted.internet import reactor, threads
    import time

    result = {}

    @defer.inlineCallbacks
    def run():
        try:
            for _ in range(min(100, count)):  # warm the pool's thread up
                yield threads.deferToThread(lambda: None)
            start = time.perf_counter()
            for _ in range(count):
                yield threads.deferToThread(lambda: None)
            result["ns"] = (time.perf_counter() - start) / count * 1e9
        finally:
            reactor.stop()

    reactor.callWhenRunning(run)
    reactor.run(installSignalHandlers=False)
    return result["ns"]


def main():
    min_time = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    out = {
        "deferred_three_callbacks": per_op_ns(deferred_three_callbacks, min_time),
        "deferred_fired_then_added": per_op_ns(deferred_fired_then_added, min_time),
        "coawait_fired": per_op_ns(coawait_fired, min_time),
        "defer_to_thread_round_trip": thread_round_trip_ns(max(200, int(20000 * min_time))),
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
