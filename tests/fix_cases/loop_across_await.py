"""An asyncio service that runs on one event loop (fixed with assume-single-event-loop)."""

import asyncio

total = 0
served = 0
_sessions = {}
_pending = []
_stats = {"calls": 0}


async def size(request):
    await asyncio.sleep(0)
    return len(request)


async def add(request):
    global total
    # read before the await, written after it: the await moves before the read
    total += await size(request)


async def reset():
    global total
    total = 0  # no await here: on one loop it runs whole, between the read and the write of add()


async def session(user):
    if user not in _sessions:
        _sessions[user] = await login(user)
    return _sessions[user]


async def login(user):
    await asyncio.sleep(0)
    return {"user": user}


def _forget(user):
    _sessions.pop(user, None)  # a sync helper cannot wait for an asyncio.Lock


async def logout(user):
    _forget(user)


async def serve(request):
    global served
    served += 1  # no await: one event loop cannot interleave here
    _stats["calls"] += 1


async def flush():
    while _pending:
        item = _pending.pop()
        await asyncio.sleep(0)
        _pending.append(item) if item is None else None


def _work(n):
    _stats["calls"] += n


async def offload(n):
    await asyncio.get_running_loop().run_in_executor(None, _work, n)
