import threading

_tokens = 100
_audit = []
_bucket_lock = threading.Lock()


def audit(event):
    _audit.append(event)


def take():
    global _tokens
    if _tokens <= 0:
        return False
    audit("take")
    _tokens -= 1
    return True


def refill():
    global _tokens
    with _bucket_lock:
        _tokens = 100
