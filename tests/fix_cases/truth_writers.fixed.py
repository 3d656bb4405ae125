import asyncio
import threading

_count = 0
_count_lock = threading.Lock()
_total = 0


def inc():
    global _count
    with _count_lock:
        _count += 1


def reset():
    global _count
    with _count_lock:
        _count = 0


async def size(n):
    await asyncio.sleep(0)
    return n


def add(n):
    global _total
    _total += n


async def add_async(n):
    global _total
    _total = _total + await size(n)
