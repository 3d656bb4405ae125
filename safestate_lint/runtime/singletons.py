"""`singleton` (a decorator for zero-argument factories) and the `Singleton` base class.

Exactly one creation across threads and across event loops: the first caller runs the
factory while every concurrent caller waits for its outcome (threads block, coroutines
await without blocking their loop).  If the factory raises, every waiting caller gets
the exception and the next call tries again.  `.reset()` forgets the instance (tests).

A factory that needs itself again while it runs (A's factory calls B, whose factory calls
A), in the same thread or task, raises `RuntimeError` naming the cycle instead of waiting
on its own attempt forever; so does a sync creation that would close a cycle through other
threads' creations (A in one thread needs B, B in another needs A).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from typing import Any, Awaitable, Callable, Dict, Generic, List, Optional, Tuple, Type, TypeVar, cast

from safestate_lint.runtime._flight import wait_for

T = TypeVar("T")
S = TypeVar("S", bound="Singleton")


# the factories running in this thread or task, outermost first (a ContextVar is per thread,
# and per task under asyncio, which copies it into the tasks a factory starts)
_CREATING: "contextvars.ContextVar[Tuple[Any, ...]]" = contextvars.ContextVar("safestate_creating", default=())


def _creating(what: Any, name: str) -> "contextvars.Token[Tuple[Any, ...]]":
    """Enter the creation of `what`; RuntimeError when this thread or task is already inside it."""
    stack = _CREATING.get()
    if any(entry is what for entry, _ in stack):
        cycle = " -> ".join([label for _, label in stack[[e for e, _ in stack].index(what):]] + [name])
        raise RuntimeError(f"{name} was needed again while it was being created (cycle: {cycle}); "
                           f"waiting for itself would never end")
    return _CREATING.set(stack + ((what, name),))


def check_not_creating(what: Any, name: str) -> None:
    """RuntimeError when this thread or task is running the creation of `what` (re-entry)."""
    _CREATING.reset(_creating(what, name))


_ABANDONED: Any = object()  # an attempt whose creator was cancelled: waiters try again


class _Attempt:
    """One run of the factory that concurrent callers share."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()  # the creator (made by the caller that runs the factory)
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None
        self._waiters: List[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]] = []
        self._lock = threading.Lock()

    def finish(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        with self._lock:
            self.value, self.error = value, error
            self.done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future, value, error)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass

    def future(self) -> "asyncio.Future[Any]":
        """A future of the running loop that resolves with this attempt's outcome."""
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[Any]" = loop.create_future()
        with self._lock:
            if not self.done.is_set():
                self._waiters.append((loop, future))
                return future
        _resolve(future, self.value, self.error)
        return future

    def result(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


def _resolve(future: "asyncio.Future[Any]", value: Any, error: Optional[BaseException]) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error if not isinstance(error, asyncio.CancelledError) else RuntimeError(
            "the singleton factory was cancelled"))
    else:
        future.set_result(value)


class _Once(Generic[T]):
    """State shared by the sync and async wrappers."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.__wrapped__ = factory
        functools.update_wrapper(self, factory)  # type: ignore[arg-type]
        self._result: Optional[Tuple[T]] = None  # published as one reference: (value,)
        self._attempt: Optional[_Attempt] = None
        self._lock = threading.Lock()

    def _claim(self) -> Tuple[Optional[Tuple[T]], _Attempt, bool]:
        """(result, attempt, leader): the finished result, or the attempt to run or wait on."""
        with self._lock:
            if self._result is not None:
                return self._result, cast(_Attempt, None), False
            if self._attempt is None:
                self._attempt = _Attempt()
                return None, self._attempt, True
            return None, self._attempt, False

    def _settle(self, attempt: _Attempt, value: Any = None, error: Optional[BaseException] = None) -> None:
        with self._lock:
            if error is None and self._attempt is attempt:  # not reset while it ran
                self._result = (value,)
            if self._attempt is attempt:
                self._attempt = None
        attempt.finish(value, error)

    def _abandon(self, attempt: _Attempt) -> None:
        """The creator stopped (cancelled): its waiters claim the creation again."""
        with self._lock:
            if self._attempt is attempt:
                self._attempt = None
        attempt.finish(_ABANDONED)

    def reset(self) -> None:
        """Forget the instance; the next call creates a new one. A creation still running is
        forgotten too: its callers get its object, later callers a new one."""
        with self._lock:
            self._result = None
            self._attempt = None

    @property
    def created(self) -> bool:
        return self._result is not None


class _SyncSingleton(_Once[T]):
    __wrapped__: Callable[[], T]

    def __call__(self) -> T:
        result = self._result
        if result is not None:
            return result[0]
        result, attempt, leader = self._claim()
        if result is not None:
            return result[0]
        name = f"singleton '{getattr(self, '__qualname__', 'factory')}'"
        if not leader:
            check_not_creating(self, name)
            wait_for(attempt, name)  # RuntimeError for a cycle through other threads' creations
            return attempt.result()
        try:
            token = _creating(self, name)
            try:
                value = self.__wrapped__()
            finally:
                _CREATING.reset(token)
        except BaseException as exc:
            self._settle(attempt, error=exc)
            raise
        self._settle(attempt, value)
        return value


class _AsyncSingleton(_Once[T]):
    __wrapped__: Callable[[], Awaitable[T]]

    async def __call__(self) -> T:
        name = f"singleton '{getattr(self, '__qualname__', 'factory')}'"
        while True:
            result = self._result
            if result is not None:
                return result[0]
            result, attempt, leader = self._claim()
            if result is not None:
                return result[0]
            if not leader:
                check_not_creating(self, name)
                value = await attempt.future()
                if value is _ABANDONED:
                    continue  # its creator was cancelled: one of the waiters creates it now
                return cast(T, value)
            try:
                token = _creating(self, name)
                try:
                    value = await self.__wrapped__()
                finally:
                    _CREATING.reset(token)
            except asyncio.CancelledError:
                # the caller gave up (a request timeout), not the factory: another waiter takes over
                self._abandon(attempt)
                raise
            except BaseException as exc:
                self._settle(attempt, error=exc)
                raise
            self._settle(attempt, value)
            return value


def singleton(factory: Callable[[], T]) -> Any:
    """Decorate a zero-argument factory (sync or `async def`) so it creates exactly once.

    >>> @singleton
    ... def get_settings():
    ...     return load_settings()
    """
    if inspect.iscoroutinefunction(factory) or inspect.iscoroutinefunction(inspect.unwrap(factory)):
        return _AsyncSingleton(factory)  # type: ignore[arg-type]  # also under a functools.wraps decorator
    return _SyncSingleton(factory)


class Singleton:
    """Base class: `MyService.instance()` returns the one instance of each subclass."""

    _singleton_guard = threading.Lock()
    _singleton_once: Dict[type, "_SyncSingleton[Any]"] = {}

    @classmethod
    def instance(cls: Type[S], *args: Any, **kwargs: Any) -> S:
        """The instance of this class, created on first call with these arguments."""
        once = Singleton._singleton_once.get(cls)
        if once is None:
            with Singleton._singleton_guard:
                once = Singleton._singleton_once.get(cls)
                if once is None:
                    once = _SyncSingleton(functools.partial(cls._create_singleton, *args, **kwargs))
                    Singleton._singleton_once[cls] = once
        return once()

    @classmethod
    def _create_singleton(cls: Type[S], *args: Any, **kwargs: Any) -> S:
        return cls(*args, **kwargs)

    @classmethod
    def reset_instance(cls) -> None:
        """Forget this class's instance (for tests)."""
        with Singleton._singleton_guard:
            Singleton._singleton_once.pop(cls, None)
