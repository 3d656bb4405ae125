import bisect
import heapq
import xmlrpc.client

_status = {"db": "up"}
_types = {}
_rpc = {}
_work = []
_jobs = []
_ordered = []
_formats = {"json": 1}
_private = {}


def status_page():
    return repr(_status)


def set_status(k, v):
    _status[k] = v


def is_plain(x):
    return type(x) is dict


def register_type(k, v):
    _types[k] = v
    return is_plain(_types)


def rpc_add(k, v):
    _rpc[k] = v
    return xmlrpc.client.dumps((_rpc,))


def crawl(start):
    _work.append(start)
    for url in _work:
        if len(_work) < 10:
            _work.append(url + "/next")


def push(job):
    heapq.heappush(_jobs, job)


def insert(x):
    bisect.insort(_ordered, x)


FORMATS = _formats.keys()


def add_format(name):
    _formats[name] = 1


def remember(k):
    _private[k] = 1
    return _private.get(k)
