"""Bait: a module total rebound from an awaited queue item (`_total = _total + await q.get()`)
while a producer fills the queue.  A lock held across the queue wait would be held while the
consumer waits for the producer; moving the await out keeps the pipeline flowing."""
# rt24-fix-args: --assume-single-event-loop  (the option the left-finding message recommends)
import asyncio

_total = 0


async def reset():
    global _total
    _total = 0


async def consume(q, n):
    global _total
    for _ in range(n):
        _total = _total + await q.get()


async def produce(q):
    for i in range(20):
        await q.put(i)
        await asyncio.sleep(0)


async def pipeline():
    await reset()
    q = asyncio.Queue(maxsize=1)
    await asyncio.wait_for(asyncio.gather(consume(q, 20), produce(q)), timeout=2)
    return _total


def main():
    print("total", asyncio.run(pipeline()), asyncio.run(pipeline()))


if __name__ == "__main__":
    main()
