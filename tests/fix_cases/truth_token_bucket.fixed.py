import threading

from safestate_lint.runtime import LockedList

_tokens = 100
_audit = LockedList()
_bucket_lock = threading.Lock()


def audit(event):
    _audit.append(event)


def take():
    global _tokens
    with _bucket_lock:
        if _tokens <= 0:
            return False
        audit("take")
        _tokens -= 1
    return True


def refill():
    global _tokens
    with _bucket_lock:
        _tokens = 100
