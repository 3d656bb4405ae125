import asyncio
import threading

from safestate_lint.runtime import LockedDict, singleton

request_count = 0
_request_count_lock = threading.Lock()
SERVICE_STATUS = {"db": "unknown"}
_service_status_lock = threading.Lock()
_cache = LockedDict()
_health_monitor = None
_health_monitor_lock = threading.RLock()
_db = None


class HealthMonitor:
    pass


async def connect():
    return object()


def handle():
    global request_count
    # count it
    with _request_count_lock:
        request_count += 1


def monitor(name, status):
    with _service_status_lock:
        SERVICE_STATUS[name] = status


def get(key):
    with _cache.lock:
        if key not in _cache:
            _cache[key] = key * 2
    return _cache[key]


async def get_health_monitor():
    global _health_monitor
    if _health_monitor is None:
        with _health_monitor_lock:
            if _health_monitor is None:
                _health_monitor = HealthMonitor()
    return _health_monitor


@singleton
async def _create_db():
    return await connect()


async def get_db():
    global _db
    if _db is None:
        _db = await _create_db()
    return _db


class Config:
    _instance = None
    _instance_lock = threading.RLock()

    @classmethod
    def instance(cls):
        if cls._instance is None:
            with Config._instance_lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance
