import asyncio

def singleton(fn):
    return fn


_client = None


import asyncio


async def connect():
    await asyncio.sleep(0)
    return object()


async def get_client():
    global _client
    if _client is None:
        _client = await connect()
    return _client
