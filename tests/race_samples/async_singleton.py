import asyncio
import time

created = []
connections = []
_monitor = None
_db = None


class HealthMonitor:
    def __init__(self):
        time.sleep(0.005)
        created.append(self)


async def connect():
    await asyncio.sleep(0.01)
    connection = object()
    connections.append(connection)
    return connection


async def get_health_monitor():
    global _monitor
    if _monitor is None:
        _monitor = HealthMonitor()
    return _monitor


async def get_db():
    global _db
    if _db is None:
        _db = await connect()
    return _db
