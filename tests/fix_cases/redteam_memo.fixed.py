import collections
import threading

_memo = collections.OrderedDict()
_memo_lock = threading.RLock()


def fib(n):
    with _memo_lock:
        if n in _memo:
            return _memo[n]
        value = n if n < 2 else fib(n - 1) + fib(n - 2)
        _memo[n] = value
    return value
