"""Bait: a coroutine sets a module up once (`if not _ready: await _setup(); _ready = True`);
two asyncio.run() calls and concurrent tasks.  A lock made at import time, or held across the
setup for every call, breaks the second run or serialises the tasks."""
# rt24-fix-args: --assume-single-event-loop  (the option the left-finding message recommends)
import asyncio

_ready = False
_setups = []


async def _setup():
    await asyncio.sleep(0.01)
    _setups.append(1)


async def handle(i):
    global _ready
    if not _ready:
        await _setup()
        _ready = True
    return i * 2


async def batch(n):
    return sum(await asyncio.gather(*(handle(i) for i in range(n))))


def main():
    first = asyncio.run(batch(10))
    second = asyncio.run(batch(5))
    print("batches", first, second, "setups", len(_setups) >= 1)


if __name__ == "__main__":
    main()
