"""Providers: how the container builds each dependency."""


class Factory:
    """A new object on every resolve()."""

    def __init__(self, factory, *args, **kwargs):
        self._factory = factory
        self._args = args
        self._kwargs = kwargs

    def resolve(self):
        return self._factory(*self._args, **self._kwargs)


class Singleton:
    """One object, built on first resolve() and reused after."""

    def __init__(self, factory, *args, **kwargs):
        self._factory = factory
        self._args = args
        self._kwargs = kwargs
        self._instance = None

    def resolve(self):
        if self._instance is None:
            self._instance = self._factory(*self._args, **self._kwargs)
        return self._instance
