total = 0


async def size(msg):
    return len(msg)


async def add(msg):
    global total
    total += await size(msg)
