import threading

from safestate_lint.runtime import LockedDict

_sessions = LockedDict()
_lock = threading.Lock()
_jobs = {}


def get_session(sid):
    with _sessions.lock:
        session = _sessions.get(sid)
        if session is None:
            session = {"id": sid}
            _sessions[sid] = session
    return session


def add_job(k, job):
    if k not in _jobs:
        with _lock:
            if k not in _jobs:
                _jobs[k] = job
