from safestate_lint.runtime import LockedDict

_clients = LockedDict()


def register(name, client):
    _clients[name] = client


def broadcast(message):
    for client in _clients.snapshot().values():
        client.send(message)
