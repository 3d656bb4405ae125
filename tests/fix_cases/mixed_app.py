import asyncio

request_count = 0
SERVICE_STATUS = {"db": "unknown"}
_cache = {}
_health_monitor = None
_db = None


class HealthMonitor:
    pass


async def connect():
    return object()


def handle():
    global request_count
    # count it
    request_count += 1


def monitor(name, status):
    SERVICE_STATUS[name] = status


def get(key):
    if key not in _cache:
        _cache[key] = key * 2
    return _cache[key]


async def get_health_monitor():
    global _health_monitor
    if _health_monitor is None:
        _health_monitor = HealthMonitor()
    return _health_monitor


async def get_db():
    global _db
    if _db is None:
        _db = await connect()
    return _db


class Config:
    _instance = None

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance
