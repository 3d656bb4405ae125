"""The application's wiring."""
from .db import Session, make_db
from .providers import Factory, Singleton


class Container:
    db = Singleton(make_db)
    session = Factory(lambda: Session(Container.db.resolve()))
