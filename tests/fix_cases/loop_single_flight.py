"""A crawler whose coroutines run on one event loop at a time (fixed with
assume-single-event-loop), used by several asyncio.run() calls in turn."""

import asyncio

_pages = {}
_fetches = []
_tally = {}
_versions = {"schema": 0}
_drained = {"count": 0}
_ready = False
_connects = []


async def fetch(url):
    await asyncio.sleep(0.05)  # the network: one task's fetch must not hold up the others
    _fetches.append(url)
    return len(url)


async def _connect():
    await asyncio.sleep(0.01)
    _connects.append(1)


async def ensure_connected():
    global _ready
    if not _ready:  # set up once: the first task connects, the others wait for it
        await _connect()
        _ready = True


async def page(url):
    await ensure_connected()
    if url not in _pages:
        _pages[url] = await fetch(url)
    return _pages[url]


async def consume(name, queue):
    # the queue item is awaited between the read and the write of the tally
    _tally[name] = _tally.get(name, 0) + await queue.get()


async def produce(queue, items):
    for item in items:
        await queue.put(item)


async def _migrate(version):
    await asyncio.sleep(0)
    return version + 1


async def upgrade():
    _versions["schema"] = await _migrate(_versions["schema"])  # the await is the update itself


async def drain(queue):
    seen = _drained["count"]
    await queue.get()  # waits for a producer: no lock may be held across it (left, with the reason)
    _drained["count"] = seen + 1


async def crawl(urls):
    return await asyncio.gather(*(page(url) for url in urls))


async def pipeline(n):
    queue = asyncio.Queue()
    await asyncio.gather(*(consume("total", queue) for _ in range(n)), produce(queue, range(n)))
    return _tally["total"]


async def upgrades(n):
    await asyncio.gather(*(upgrade() for _ in range(n)))
    return _versions["schema"]
