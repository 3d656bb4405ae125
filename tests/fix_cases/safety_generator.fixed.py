from safestate_lint.runtime import LockedSet

_seen = LockedSet()


def unique(items):
    for x in items:
        if x not in _seen:
            _seen.add(x)
            yield x
