import threading

_routes = []
_count = 0
_lock = threading.Lock()


def add_route(route):
    global _count
    with _lock:
        _routes.append(route)
        _count = _count + 1


def routes_snapshot():
    with _lock:
        return list(_routes)


def recount():
    global _count
    _count = _count + len(routes_snapshot())
