"""Bait: a coroutine cache filled across an await (check-then-act), used by two asyncio.run()
calls with concurrent tasks.  An asyncio.Lock created at import time binds to the first loop
on contention; the second asyncio.run() then fails."""
# rt24-fix-args: --assume-single-event-loop  (the option the left-finding message recommends)
import asyncio

_cache = {}
_loads = []


async def _load(key):
    await asyncio.sleep(0.001)
    _loads.append(key)
    return key.upper()


async def get(key):
    if key not in _cache:
        _cache[key] = await _load(key)
    return _cache[key]


async def batch(keys):
    return await asyncio.gather(*(get(k) for k in keys))


def main():
    first = asyncio.run(batch(["a", "b", "c", "d"]))
    second = asyncio.run(batch(["e", "f", "g", "a"]))
    print("first", first, "second", second, "loads", sorted(_loads))


if __name__ == "__main__":
    main()
