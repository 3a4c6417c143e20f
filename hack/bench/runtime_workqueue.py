"""Workqueue throughput: adds + gets per second, with metrics on, as a controller uses it.

Three shapes: a single producer/consumer loop, 4 workers draining 10,000 distinct keys added in bursts, and
a rate-limited queue with add_after. One "op" is one add or one get (each get is followed by done).
Goal on a 2-core machine: >= 50,000 ops/s.
"""

from __future__ import annotations

import asyncio
import time

from grove.runtime.metrics import RuntimeMetrics
from grove.runtime.workqueue import RateLimitingQueue, ShutDown

N = 200_000


async def single_loop() -> float:
    q: RateLimitingQueue[str] = RateLimitingQueue("bench", metrics=RuntimeMetrics())
    keys = [f"ns/obj-{i}" for i in range(1000)]
    start = time.perf_counter()
    for i in range(N // 2):
        q.add(keys[i % 1000])
        item = await q.get()
        q.done(item)
    return N / (time.perf_counter() - start)


async def workers_draining_bursts() -> float:
    q: RateLimitingQueue[str] = RateLimitingQueue("bench", metrics=RuntimeMetrics())
    keys = [f"ns/obj-{i}" for i in range(10_000)]
    gets = 0
    drained = asyncio.Event()

    async def worker() -> None:
        nonlocal gets
        while True:
            try:
                item = await q.get()
            except ShutDown:
                return
            gets += 1
            q.done(item)
            if not len(q):
                drained.set()

    tasks = [asyncio.create_task(worker()) for _ in range(4)]
    adds = 0
    start = time.perf_counter()
    for _ in range(N // 20_000):
        for k in keys:
            q.add(k)
            adds += 1
        drained.clear()
        await drained.wait()
    await q.shut_down_with_drain()
    await asyncio.gather(*tasks)
    return (adds + gets) / (time.perf_counter() - start)


async def rate_limited_and_delayed() -> float:
    q: RateLimitingQueue[str] = RateLimitingQueue("bench", metrics=RuntimeMetrics())
    keys = [f"ns/obj-{i}" for i in range(1000)]
    ops = 0
    start = time.perf_counter()
    for i in range(N // 4):
        k = keys[i % 1000]
        q.add_rate_limited(k)
        q.add_after(k, 0.0001)
        q.forget(k)
        ops += 2
    while q.waiting() or len(q):
        try:
            item = await asyncio.wait_for(q.get(), 1)
        except TimeoutError:
            break
        q.done(item)
        ops += 1
    return ops / (time.perf_counter() - start)


async def main() -> None:
    print(f"single producer/consumer:        {await single_loop():>10,.0f} ops/s")
    print(f"4 workers, bursts of 10k keys:   {await workers_draining_bursts():>10,.0f} ops/s")
    print(f"add_rate_limited + add_after:    {await rate_limited_and_delayed():>10,.0f} ops/s")


if __name__ == "__main__":
    asyncio.run(main())
