import bisect
import heapq
import threading
import xmlrpc.client

from safestate_lint.runtime import LockedDict

_status = {"db": "up"}
_status_lock = threading.Lock()
_types = {}
_types_lock = threading.Lock()
_rpc = {}
_rpc_lock = threading.Lock()
_work = []
_work_lock = threading.Lock()
_jobs = []
_jobs_lock = threading.RLock()
_ordered = []
_ordered_lock = threading.RLock()
_formats = {"json": 1}
_formats_lock = threading.Lock()
_private = LockedDict()


def status_page():
    return repr(_status)


def set_status(k, v):
    with _status_lock:
        _status[k] = v


def is_plain(x):
    return type(x) is dict


def register_type(k, v):
    with _types_lock:
        _types[k] = v
    return is_plain(_types)


def rpc_add(k, v):
    with _rpc_lock:
        _rpc[k] = v
    return xmlrpc.client.dumps((_rpc,))


def crawl(start):
    with _work_lock:
        _work.append(start)
    for url in _work:
        with _work_lock:
            if len(_work) < 10:
                _work.append(url + "/next")


def push(job):
    with _jobs_lock:
        heapq.heappush(_jobs, job)


def insert(x):
    with _ordered_lock:
        bisect.insort(_ordered, x)


FORMATS = _formats.keys()


def add_format(name):
    with _formats_lock:
        _formats[name] = 1


def remember(k):
    _private[k] = 1
    return _private.get(k)
