"""A pool of idle connections, bucketed by shard key."""


class Connection:
    def __init__(self, key, ident):
        self.key = key
        self.ident = ident

    def __repr__(self):
        return f"Connection({self.key!r}, {self.ident})"


class Pool:
    def __init__(self, name):
        self.name = name
        self.conns: dict[str, list] = {}

    def checkin(self, conn):
        self.conns.setdefault(conn.key, []).append(conn)

    def checkout(self, key):
        try:
            return self.conns.get(key, []).pop()
        except IndexError:
            return None

    def release(self, conn):
        """Drop a broken connection for good; forget its shard when the last one goes."""
        self.conns[conn.key].remove(conn)
        if not self.conns[conn.key]:
            self.conns.pop(conn.key)

    def idle(self, key):
        return len(self.conns.get(key, ()))
