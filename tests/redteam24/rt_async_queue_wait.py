"""Bait: consumers add an awaited queue item into a shared tally; the producer updates the
same tally.  One lock held across `await q.get()` starves the producer: nobody progresses."""
# rt24-fix-args: --assume-single-event-loop  (the option the left-finding message recommends)
import asyncio

_tally = {}


async def consumer(name, q):
    for _ in range(3):
        _tally[name] = _tally.get(name, 0) + await q.get()


async def producer(q):
    for i in range(6):
        await asyncio.sleep(0)
        _tally["produced"] = _tally.get("produced", 0) + 1
        await q.put(i)


async def run():
    q = asyncio.Queue()
    await asyncio.wait_for(asyncio.gather(consumer("a", q), consumer("b", q), producer(q)), timeout=2)
    return sorted(_tally.items())


def main():
    r = asyncio.run(run())
    print("tally", sum(v for k, v in r if k != "produced"), dict(r)["produced"])


if __name__ == "__main__":
    main()
