import hashlib

from safestate_lint.runtime import LockedDict

_users = LockedDict()


def create(name, password):
    with _users.lock:
        if name in _users:
            raise ValueError(name)
        digest = hashlib.sha256(password.encode()).hexdigest()
        _users[name] = digest
    return digest


def exists(name):
    return name in _users
