"""The facts model: what the analysis records and every rule and fixer reads.

* :class:`Binding`: what a module-level name (or a class or instance attribute) is bound to;
* :class:`FunctionInfo`: one function, its scope, and what the call graph learns about it;
* :class:`LockRegion`: a lock held over a region of a function;
* :class:`Check` and :class:`Act`: a test of shared state, and a write to it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable, FrozenSet, List, Optional, Sequence, Set, Tuple, Union

from safestate_lint.engine.syntax import collect_scope

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
REENTRANT_LOCK_TYPES = frozenset({"RLock", "Condition", "RWLock"})
MUTEX_LOCK_TYPES = frozenset({"Lock", "RLock", "Condition", "allocate_lock", "LockType", "RWLock", "LoopLock"})
# ("g", name) module global, ("c", class, attr) class attribute, ("i", class, attr) attribute of an
# instance every thread shares, ("o", class, attr) attribute of an object whose class owns a lock
SharedKey = Tuple[str, ...]
# methods that run before any other thread has the object: construction, unpickling, a unittest fixture
BEFORE_SHARING = frozenset({"__init__", "__new__", "__post_init__", "__attrs_post_init__", "__init_subclass__", "__set_name__",
                            "__setstate__", "setUp", "setUpClass"})
# methods that run once the object's work is over: a finaliser, unittest's teardown hooks
AFTER_SHARING = frozenset({"__del__", "tearDown", "tearDownClass"})
# calls that fork the process: the child runs one thread
FORK_CALLS = frozenset({"os.fork", "os.forkpty", "pty.fork"})


@dataclass
class Binding:
    """What a module-level name is bound to."""

    name: str
    kind: str  # container | locked | threadsafe | lock | none | flag | scalar | unknown | function | class
    type_name: str = ""  # dict, list, set, defaultdict, ... for containers
    node: Optional[ast.AST] = None
    async_lock: bool = False
    lock_type: str = ""  # for locks: the constructor's last name (Lock, RLock, Condition, Semaphore, ...)
    wraps: str = ""  # a Condition built on another lock: that lock's expression (`self.lock`)
    origin: str = ""  # a container another module binds: its absolute name (`app._registry.REGISTRY`)

    @property
    def reentrant(self) -> bool:
        """A lock its holder may take again (RLock, a Condition over its default RLock, RWLock)."""
        return self.lock_type in REENTRANT_LOCK_TYPES

    @property
    def is_mutex(self) -> bool:
        """A lock that excludes every other holder (not a counting semaphore)."""
        return self.lock_type in MUTEX_LOCK_TYPES

    @property
    def is_mutable_container(self) -> bool:
        return self.kind == "container"

    @property
    def is_container_like(self) -> bool:
        return self.kind in ("container", "locked")


@dataclass(frozen=True)
class LockRegion:
    """A region of a function in which a lock is held."""

    node_id: int
    name: str
    async_lock: bool = False  # asyncio-style lock: excludes tasks of one loop, not threads
    node: Optional[ast.AST] = field(default=None, compare=False, hash=False)  # the `with`/`try`/def
    # which lock, the same in every function: `_lock` for a module lock, `C._lock` for a lock
    # on class C or its instances (`self._lock`, `cls._lock`), `X.lock` for a runtime container
    ident: str = field(default="", compare=False, hash=False)
    reentrant: bool = field(default=False, compare=False, hash=False)

    def at(self, node: ast.AST) -> "LockRegion":
        """The same lock, held over the region of `node`."""
        return LockRegion(id(node), self.name, self.async_lock, node, self.ident or self.name, self.reentrant)


@dataclass
class FunctionInfo:
    node: FunctionNode
    qualname: str
    class_name: Optional[str] = None
    method_kind: str = "function"  # function | method | classmethod | staticmethod | new | metaclass
    cls_param: Optional[str] = None
    self_param: Optional[str] = None
    globals_declared: Set[str] = field(default_factory=set)
    nonlocals_declared: Set[str] = field(default_factory=set)
    locals: Set[str] = field(default_factory=set)
    closure: Set[str] = field(default_factory=set)
    import_time: bool = False
    synchronized: bool = False
    parents: List["FunctionInfo"] = field(default_factory=list)
    scoped: bool = False
    walked: bool = False
    # whether expressions can bind names (`:=`); False when the module text has no walrus,
    # so the scope is collected from statements and targets alone
    walrus: bool = True
    # locks every caller holds when it calls this function (the call graph's caller context)
    held: Tuple["LockRegion", ...] = ()

    def ensure_scope(self) -> None:
        """Parameters, locals, declarations and closure names (computed on first use)."""
        if self.scoped:
            return
        self.scoped = True
        collect_scope(self)
        for outer in self.parents:
            outer.ensure_scope()
            self.closure |= outer.locals

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def name(self) -> str:
        return self.node.name


@dataclass
class Check:
    """A test of shared state: an `if` (the site) and where the state was read (the origin)."""

    keys: FrozenSet[SharedKey]
    lazy_keys: FrozenSet[SharedKey]  # keys tested for None/falsy/hasattr (lazy initialisation)
    site: ast.stmt  # the `if` statement that decides
    origin: ast.stmt  # the statement that read the state (the `if` itself, or `v = X.get(k)`)
    locks: Tuple[LockRegion, ...]  # locks held where the state was read

    def shares_lock_with(self, locks: Sequence[LockRegion],
                         thread_capable: Optional[Callable[[LockRegion], bool]] = None) -> bool:
        """Whether the state was read under a lock that is still held at `locks` (one acquisition)."""
        mine = {region.node_id for region in self.locks if thread_capable is None or thread_capable(region)}
        return any(region.node_id in mine for region in locks)


# the detail of an "iterate" act for a live view a method returns (`return self._d.keys()`)
ESCAPED_VIEW = "a live view returned"


@dataclass
class Act:
    """A write to shared state: rebinding a global/class attribute, or mutating a container."""

    key: SharedKey
    kind: str  # rebind | mutate | iterate
    stmt: ast.stmt
    node: ast.AST
    locks: Tuple[LockRegion, ...]
    func: FunctionInfo
    detail: str = ""  # method name, "item assignment", "del", "+=" ...
    reads_self: bool = False  # the statement (or a local read from it) reads the target too
    check: Optional[Check] = None
    augmented: bool = False
    idempotent: bool = False  # stores the result of a run-once factory: every racer stores the same object
    resets: bool = False  # stores None/False/0: a teardown, not an initialisation
    via: Optional[FunctionInfo] = None  # a call to a helper whose summary writes the state
    races_with: Optional["Act"] = None  # a blind rebinding: the read-modify-write it races with
    inner: Optional[ast.expr] = None  # the container written when it is held inside the shared one (`X[t]`)
    read_at: Optional[ast.stmt] = None  # `v = X` ... `X = v + 1`: where the value was read
    read_locks: Tuple[LockRegion, ...] = ()  # the locks held there

    def read_outside_lock(self, thread_capable: Callable[[LockRegion], bool]) -> bool:
        """Read through a local at a statement no lock of the write was already held at."""
        if self.read_at is None:
            return False
        held = {region.node_id for region in self.read_locks}
        return not any(region.node_id in held for region in self.locks if thread_capable(region))


@dataclass
class CallSite:
    """A call from one function of the module to another, with what the caller holds there."""

    caller: FunctionInfo
    callee: FunctionInfo
    node: ast.Call
    stmt: ast.stmt
    locks: Tuple[LockRegion, ...]
    checks: Tuple[Check, ...]
    dispatch: bool = False  # `self.m()` resolved to a subclass's override it may run

