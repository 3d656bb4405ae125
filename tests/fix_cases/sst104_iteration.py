_clients = {}


def register(name, client):
    _clients[name] = client


def broadcast(message):
    for client in _clients.values():
        client.send(message)
