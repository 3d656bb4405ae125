import hashlib

_users = {}


def create(name, password):
    if name in _users:
        raise ValueError(name)
    digest = hashlib.sha256(password.encode()).hexdigest()
    _users[name] = digest
    return digest


def exists(name):
    return name in _users
