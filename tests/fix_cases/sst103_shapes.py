import threading

_sessions = {}
_lock = threading.Lock()
_jobs = {}


def get_session(sid):
    session = _sessions.get(sid)
    if session is None:
        session = {"id": sid}
        _sessions[sid] = session
    return session


def add_job(k, job):
    if k not in _jobs:
        with _lock:
            _jobs[k] = job
