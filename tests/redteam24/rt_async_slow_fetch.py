"""Bait: a check-then-act cache whose act awaits a slow fetch.  Holding one lock across the
fetch serialises 20 independent fetches, and the batch misses its deadline."""
# rt24-fix-args: --assume-single-event-loop  (the option the left-finding message recommends)
import asyncio

_cache = {}


async def fetch(url):
    await asyncio.sleep(0.05)
    return len(url)


async def get(url):
    if url not in _cache:
        _cache[url] = await fetch(url)
    return _cache[url]


async def crawl():
    urls = [f"https://example.invalid/{i}" for i in range(20)]
    try:
        sizes = await asyncio.wait_for(asyncio.gather(*(get(u) for u in urls)), timeout=0.6)
    except asyncio.TimeoutError:
        return "deadline missed"
    return sum(sizes)


def main():
    print("crawl", asyncio.run(crawl()))


if __name__ == "__main__":
    main()
