import asyncio
import threading

_client = None
_client_lock = threading.Lock()
_loaded = False
_loaded_lock = threading.RLock()
_engine = None
_engine_lock = threading.Lock()
_monitor = None
_monitor_thread_lock = threading.Lock()
_monitor_lock = asyncio.Lock()


def get_client():
    global _client
    if _client is not None:
        return _client
    with _client_lock:
        if _client is not None:
            return _client
        _client = object()
    return _client


def load():
    global _loaded
    if not _loaded:
        with _loaded_lock:
            if not _loaded:
                print("loading")
                _loaded = True


def get_engine():
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = object()
    return _engine


async def get_monitor():
    global _monitor
    if _monitor is None:
        with _monitor_thread_lock:
            if _monitor is None:
                _monitor = object()
    return _monitor
