"""Request handlers, run by the server's thread pool."""
from .container import Container


def invoice(customer_id):
    session = Container.session.resolve()
    return {"customer": customer_id, "db": session.db.connection_id}


def health():
    return Container.db.resolve().url
