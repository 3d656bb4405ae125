"""Config via a custom lock name and a synchronizing decorator (see tests/test_cli.py)."""
import functools

_jobs = {}
_guard = object()


def serialized(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@serialized
def add(job_id, job):
    _jobs[job_id] = job


def remove(job_id):
    with _guard:
        _jobs.pop(job_id, None)
