"""Errors raised by the runtime."""


class LockTimeout(TimeoutError):
    """A lock could not be acquired within the configured timeout."""
