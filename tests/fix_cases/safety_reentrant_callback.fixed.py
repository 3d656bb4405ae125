from safestate_lint.runtime import LockedList

_events = []
_listeners = LockedList()


def subscribe(fn):
    _listeners.append(fn)


def _dispatch(event):
    out = []
    for fn in list(_listeners):
        out.extend(fn(event) or [])
    return out


def emit(event):
    global _events
    _events = _events + [event] + _dispatch(event)
