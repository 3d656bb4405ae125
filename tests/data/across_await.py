import asyncio

total = 0
_connections = {}
opened = []


async def size(message):
    await asyncio.sleep(0)  # e.g. reads the request body
    return len(message)


async def add(message):
    global total
    total += await size(message)


async def open_connection(key):
    await asyncio.sleep(0.001)
    opened.append(key)
    return object()


async def connection(key):
    if key not in _connections:
        _connections[key] = await open_connection(key)
    return _connections[key]
