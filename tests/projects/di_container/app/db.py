"""The database handle (a stand-in that records each connect)."""
import itertools

_connects = itertools.count(1)


class Database:
    def __init__(self, url):
        self.url = url
        self.connection_id = next(_connects)


class Session:
    def __init__(self, db):
        self.db = db


def make_db(url="postgresql://billing@db/billing"):
    return Database(url)
