"""Config via a custom lock name and a synchronizing decorator (see tests/test_cli.py)."""
import functools

_jobs = []
_guard = object()


def serialized(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@serialized
def add(job):
    _jobs.insert(0, job)


def take():
    with _guard:
        return _jobs.pop(0)
