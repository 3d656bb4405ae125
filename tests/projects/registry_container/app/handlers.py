"""Request handlers (run in the server's worker threads)."""
from .registry import get_pool


def finish_request(conn):
    """The request is done with `conn`: back to the idle pool."""
    get_pool("orders").checkin(conn)


def connection_failed(conn):
    """`conn` broke mid-request: never hand it out again."""
    get_pool("orders").release(conn)
