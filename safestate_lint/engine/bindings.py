"""The module-level pass: what every module-level name, class attribute and shared
instance attribute is bound to (a mutable container, a runtime locked container, a
thread-safe object, a lock, ``None``, a flag, ...), the module's functions and methods, and
which of them run only at import time."""

from __future__ import annotations

import ast
import fnmatch
import re
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from safestate_lint.config import Config
from safestate_lint.engine.facts import Act, Binding, CallSite, FunctionInfo, LockRegion, SharedKey
from safestate_lint.engine.classes import BuiltForThreads, ClassFacts
from safestate_lint.engine.syntax import (
    _header_nodes, _is_main_guard, _iter_defs, _target_names, dotted_name, iter_scope_nodes, walk,
)

if TYPE_CHECKING:
    from safestate_lint.index.view import ModuleView

# -- what module-level names can be bound to ---------------------------------------------

CONTAINER_CTORS: Dict[str, str] = {
    "dict": "dict", "list": "list", "set": "set", "bytearray": "bytearray",
    "collections.defaultdict": "defaultdict", "collections.OrderedDict": "OrderedDict",
    "collections.Counter": "Counter", "collections.ChainMap": "ChainMap",
    "weakref.WeakValueDictionary": "WeakValueDictionary", "weakref.WeakKeyDictionary": "WeakKeyDictionary",
    "weakref.WeakSet": "WeakSet",
}
ANNOTATION_CONTAINERS: Dict[str, str] = {
    "dict": "dict", "Dict": "dict", "list": "list", "List": "list", "set": "set", "Set": "set",
    "defaultdict": "defaultdict", "DefaultDict": "defaultdict", "OrderedDict": "OrderedDict",
    "Counter": "Counter", "MutableMapping": "dict", "MutableSequence": "list", "MutableSet": "set",
    "bytearray": "bytearray",
}
LOCK_CTORS: Dict[str, bool] = {  # qualified name -> is an asyncio-style (task-only) lock
    "threading.Lock": False, "threading.RLock": False, "threading.Condition": False,
    "threading.Semaphore": False, "threading.BoundedSemaphore": False,
    "_thread.allocate_lock": False, "_thread.RLock": False, "_thread.LockType": False,
    "multiprocessing.Lock": False, "multiprocessing.RLock": False, "multiprocessing.Condition": False,
    "multiprocessing.Semaphore": False, "multiprocessing.BoundedSemaphore": False,
    "asyncio.Lock": True, "asyncio.Condition": True, "asyncio.Semaphore": True,
    "asyncio.BoundedSemaphore": True, "anyio.Lock": True, "trio.Lock": True,
}
RUNTIME_LOCKS: Dict[str, bool] = {"RWLock": False, "AsyncRWLock": True, "LoopLock": True}
RUNTIME_CONTAINERS: Dict[str, str] = {"LockedDict": "dict", "LockedList": "list", "LockedSet": "set"}
RUNTIME_THREAD_SAFE = frozenset({"AtomicCounter", "StateManager", "TTLCache", "Singleton", "singleton"})
# methods that run before an instance is shared
_CONSTRUCTORS = frozenset({"__init__", "__new__", "__post_init__", "__attrs_post_init__", "__init_subclass__",
                           "__set_name__"})
# an identifier followed by `.` or `[` (through blanks, `)` and backslash continuations)
_ACCESSED = re.compile(r"(?<![\w])([^\W\d]\w*)[ \t\r\n\\)]*[.\[]")
# decorators that make a zero-argument factory return one object however many threads call it
ONCE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache", "streamlit.cache_resource",
                             "streamlit.experimental_singleton"})
THREAD_SAFE_CTORS = frozenset({
    "queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "queue.SimpleQueue",
    "multiprocessing.Queue", "multiprocessing.SimpleQueue", "multiprocessing.JoinableQueue",
    "asyncio.Queue", "asyncio.LifoQueue", "asyncio.PriorityQueue", "asyncio.Event",
    "collections.deque", "threading.local", "_thread._local", "threading.Event", "threading.Barrier",
    "contextvars.ContextVar", "itertools.count",
})
THREAD_MODULES = ("threading", "_thread", "concurrent.futures", "multiprocessing.pool", "multiprocessing.dummy")

DICT_MUTATORS = frozenset({"update", "pop", "popitem", "setdefault", "clear", "__setitem__", "__delitem__"})
LIST_MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse",
                           "__setitem__", "__delitem__", "__iadd__"})
SET_MUTATORS = frozenset({"add", "discard", "remove", "pop", "clear", "update", "difference_update",
                          "intersection_update", "symmetric_difference_update"})
MUTATORS: Dict[str, FrozenSet[str]] = {
    "dict": DICT_MUTATORS, "defaultdict": DICT_MUTATORS, "ChainMap": DICT_MUTATORS,
    "WeakValueDictionary": DICT_MUTATORS, "WeakKeyDictionary": DICT_MUTATORS,
    "OrderedDict": DICT_MUTATORS | {"move_to_end"}, "Counter": DICT_MUTATORS | {"subtract"},
    "list": LIST_MUTATORS, "bytearray": LIST_MUTATORS, "set": SET_MUTATORS, "WeakSet": SET_MUTATORS,
}
ANY_MUTATOR = frozenset().union(*MUTATORS.values())
# functions that mutate their first argument in place
MUTATING_FUNCTIONS = frozenset({
    "heapq.heappush", "heapq.heappop", "heapq.heapify", "heapq.heapreplace", "heapq.heappushpop",
    "bisect.insort", "bisect.insort_left", "bisect.insort_right", "random.shuffle",
})
# calls that walk their first argument with Python-level steps between items (a key function,
# `__add__`, a generator) or, on the free-threaded build, without locking it: an iteration,
# not a snapshot (`sum(X.values())`, `any(X)`, `next(iter(X))`, `copy.deepcopy(X)`)
ITERATING_CALLS = frozenset({"sum", "min", "max", "any", "all", "next", "copy.deepcopy", "math.fsum",
                             "statistics.mean", "statistics.median", "functools.reduce"})
# lazy iterators over their arguments (from this index on): iterating them iterates those
LAZY_ITERATORS: Dict[str, int] = {"enumerate": 0, "reversed": 0, "iter": 0, "zip": 0, "map": 1, "filter": 1,
                                  "itertools.islice": 0, "itertools.chain": 0}
# process-wide containers of the standard library that a module's functions use as caches
PROCESS_STATE: Dict[str, Binding] = {"sys.modules": Binding("sys.modules", "container", "dict")}
# calls through which `X.get(k).append(v)` still reaches a container held inside X
ELEMENT_ACCESSORS = frozenset({"get", "setdefault", "__getitem__"})
LOCK_METHODS = frozenset({"read", "write", "reader", "writer", "read_lock", "write_lock", "locked",
                          "acquire_read", "acquire_write", "gen_rlock", "gen_wlock", "transaction_lock"})


def _one_permit(call: ast.Call) -> bool:
    """`Semaphore(1)`, `BoundedSemaphore(value=1)`."""
    args = [*call.args, *(k.value for k in call.keywords if k.arg == "value")]
    return len(args) == 1 and isinstance(args[0], ast.Constant) and args[0].value == 1


class ModuleBindings(ClassFacts):
    """The module-level pass: imports, bindings, classes, functions and shared instances."""

    def __init__(self, tree: ast.Module, config: Config, lines: Optional[Sequence[str]] = None,
                 *, prefilter: bool = True, view: Optional["ModuleView"] = None) -> None:
        self.tree = tree
        self.view = view
        self.config = config
        self.lines = lines
        self.imports: Dict[str, str] = {}
        self.bindings: Dict[str, Binding] = {}
        self.binding_counts: Dict[str, int] = {}  # module-level assignments of each name
        self.classes: Dict[str, ast.ClassDef] = {}
        self.class_attrs: Dict[Tuple[str, str], Binding] = {}
        self.functions: List[FunctionInfo] = []
        self.acts: List[Act] = []
        self.calls: List[CallSite] = []  # calls between the module's own functions (walked callers)
        # (class name or None, name) -> top-level function or method; (id(parent def), name) -> nested def
        self.function_index: Dict[Tuple[Optional[str], str], FunctionInfo] = {}
        self.nested_index: Dict[Tuple[int, str], FunctionInfo] = {}
        self.thread_evidence = False
        self._thread_safe_types = set(config.thread_safe_types)
        self._instance_attrs_done: Set[str] = set()
        self._def_offsets: Optional[List[int]] = None
        self._locking: Optional[Set[str]] = None
        self._factories: Dict[str, Optional[Binding]] = {}  # lock factory functions (memoised)
        # classes whose one instance every thread shares (singleton evidence), their
        # instance attributes, and the module-level names bound to such an instance
        self.shared_classes: Set[str] = set()
        self.instance_attrs: Dict[Tuple[str, str], Binding] = {}
        self.instances: Dict[str, str] = {}
        # why a class's instance is shared, when another module says so (the project index)
        self.shared_why: Dict[str, str] = {}
        # functions that every call from another module makes holding these locks
        self.external_held: Dict[str, Tuple[str, ...]] = {}
        # another module's functions this one calls that block: the callee as written -> why
        self.external_blocking: Dict[str, str] = {}
        # public functions and methods no other module of the program names: called only from here
        self.module_only: FrozenSet[str] = frozenset()
        self._init_class_facts()
        self._index_text(lines, prefilter)
        # whether the module's text says `fork` at all: the walk looks for fork branches only then
        self.may_fork = self._text is None or "fork" in self._text
        self._collect_module()
        self._collect_functions()
        self._collect_global_rebinds()
        self._collect_shared_classes()
        if view is not None and not view.empty():
            self._apply_view(view)
        self._collect_lock_classes()
        self._collect_thread_classes()
        self._mark_import_time_methods()
        self._mark_returned_inner_functions()

    def _apply_view(self, view: "ModuleView") -> None:
        """What the rest of the project says about this module (:mod:`safestate_lint.index`):
        classes whose instances other modules share, locks and threads inherited from bases
        elsewhere, containers imported from other modules, functions called under a lock."""
        for name, why in view.shared.items():
            if name in self.classes and name not in self.shared_classes:
                self.shared_classes.add(name)
                self.shared_why[name] = why
                self._collect_instance_attrs(name)
        for name, locks in view.lock_bases.items():
            if name not in self.classes:
                continue
            self.instance_lock(name, "")  # the class's own locks first
            for attr, (lock_type, is_async) in locks.items():
                self.class_attrs.setdefault((name, attr), Binding(attr, "lock", async_lock=is_async, lock_type=lock_type))
            # the class takes part in the locking when its own methods take a thread lock the base
            # owns (an asyncio lock, or a lock only the base's methods take, says nothing of its callers)
            thread_locks = [attr for attr, (_, is_async) in locks.items() if not is_async]
            if thread_locks and self._node_contains(self._occurrences(thread_locks), self.classes[name]):
                self.lock_classes.add(name)
            self._collect_instance_attrs(name)
        for name, attrs in view.base_attrs.items():
            for attr, (kind, type_name) in attrs.items():
                self.instance_attrs.setdefault((name, attr), Binding(attr, kind, type_name))
        for name, (why, entry, part) in view.thread_bases.items():
            if name in self.classes and name not in self.lock_classes:
                self.thread_classes[name] = BuiltForThreads(why, entry, part)
                self.lock_classes.add(name)
                self._collect_instance_attrs(name)
        for local, (origin, type_name) in view.containers.items():
            if local.partition(".")[0] in self.imports and local not in self.bindings:
                self.bindings[local] = Binding(local, "container", type_name, origin=origin)
        self.external_held = dict(view.caller_locked)
        self.external_blocking = dict(view.blocking)
        self.module_only = frozenset(view.module_only)

    def _candidate_offsets(self) -> List[int]:
        """Where a function body can produce a fact.

        A rebinding needs `global`; a mutation or a read-modify-write of an item or attribute
        needs the shared name followed by `.` or `[` (through parentheses or a backslash
        continuation); iterating a plain container needs its name anywhere; the rest needs
        `setattr`, `type(self)`/`__class__`, or a function that mutates its argument
        (`heapq.heappush(X, ...)`).
        """
        if self._text is None:
            return []
        names = [name for name, b in self.bindings.items() if b.kind not in ("function", "lock", "threadsafe")]
        if len(names) > 64:  # one scan of the text instead of one per name
            wanted = set(names)
            hits = [m.start() for m in _ACCESSED.finditer(self._text) if m.group(1) in wanted]
        else:
            hits = self._occurrences(names, follow=".[")
        # another module's class attribute (`IOLoop._registry`), a binding under its dotted name
        hits += self._occurrences([name for name in names if "." in name])
        # a plain container can also be iterated (`for x in X`, `enumerate(X)`): any mention counts
        hits += self._occurrences([name for name, b in self.bindings.items() if b.kind == "container"])
        hits += self._occurrences(["global", "nonlocal", "setattr", "delattr", "__class__", "modules"]
                                  + [f.rsplit(".", 1)[-1] for f in MUTATING_FUNCTIONS])
        hits += self._occurrences(["type"], follow="(")
        hits.sort()
        return hits

    def _may_touch_shared_state(self, info: FunctionInfo, candidates: List[int]) -> bool:
        if info.method_kind in ("classmethod", "new", "metaclass"):
            return True
        if info.method_kind == "method" and info.class_name is not None:
            if info.class_name in self.shared_classes:
                return True
            watched = self._watched_offsets(info.class_name)
            if watched and self._node_contains(watched, info.node):
                return True
        return self._node_contains(candidates, info.node)

    def _collect_global_rebinds(self) -> None:
        """Bindings made by `global X; X = {}` in functions, known before any function is walked."""
        offsets = self._occurrences(["global"])
        for info in self.functions:
            if not self._node_contains(offsets, info.node):
                continue
            info.ensure_scope()
            if not info.globals_declared:
                continue
            for node in iter_scope_nodes(info.node.body):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id in info.globals_declared:
                            self._infer_global_binding(target.id, node.value)
                            created = self._created_class(node.value)
                            if created is not None:
                                self.shared_classes.add(created)
            for name in info.globals_declared:
                self.bindings.setdefault(name, Binding(name, "unknown"))

    def _created_class(self, value: Optional[ast.AST]) -> Optional[str]:
        """`C(...)` (or `await C.create()`-free plain `C(...)`) for a class of this module."""
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in self.classes:
            return value.func.id
        return None

    def _collect_shared_classes(self) -> None:
        """Classes of which one instance is shared by every thread: a module-level instance,
        a module global annotated `Optional[C]`, a `global x; x = C()` getter, or a class
        singleton (`_instance`/`_instances` on the class, a base or the metaclass)."""
        main_block = {id(node) for stmt in self.tree.body if _is_main_guard(stmt)
                      for inner in stmt.body for node in walk(inner)}  # type: ignore[attr-defined]
        for name, binding in self.bindings.items():
            node = binding.node
            value = getattr(node, "value", None)
            created = self._created_class(value)
            if created is None or binding.kind != "unknown" or id(node) in main_block:
                continue
            self.instances[name] = created
            if not name.strip("_").isupper():  # `_EPOCH = datetime(...)`: a value constant, not a service
                self.shared_classes.add(created)
        for name, binding in self.bindings.items():
            node = binding.node
            annotation = node.annotation if isinstance(node, ast.AnnAssign) else None
            value = getattr(node, "value", None)
            if annotation is None or id(node) in main_block:
                continue
            created = self._created_class(value)
            if isinstance(annotation, ast.Subscript) and \
                    (dotted_name(annotation.value) or "").rsplit(".", 1)[-1] == "ContextVar":
                # each context sets its own value; only a `default=C()` is one object they all share
                default = next((k.value for k in getattr(value, "keywords", ()) if k.arg == "default"), None)
                created = self._created_class(default)
            elif created is None:  # `_client: Optional[C] = None`, filled in later
                inner = annotation.slice if isinstance(annotation, ast.Subscript) else annotation
                label = inner.value if isinstance(inner, ast.Constant) else dotted_name(inner)
                created = label if isinstance(label, str) and label in self.classes else None
            elif name.strip("_").isupper() and "Final" in (dotted_name(getattr(annotation, "value", annotation)) or ""):
                created = None  # `EMPTY: Final = Content("")`: a value constant
            # `MANAGER: Manager = Manager()` is a typed module-level service, whatever its name's case
            if created is not None:
                self.shared_classes.add(created)

        def singleton_like(name: str, depth: int = 0) -> bool:
            cls = self.classes.get(name)
            if cls is None or depth > 10:
                return False
            one = self.class_attrs.get((name, "_instance"))
            per_class = self.class_attrs.get((name, "_instances"))
            if (one is not None and one.kind == "none") or \
                    (per_class is not None and per_class.type_name in ("dict", "WeakValueDictionary", "WeakKeyDictionary")):
                return True  # not `_instances = WeakSet()`: a registry of many instances
            related = [dotted_name(b) for b in cls.bases]
            related += [dotted_name(k.value) for k in cls.keywords if k.arg == "metaclass"]
            return any(r is not None and singleton_like(r, depth + 1) for r in related)

        for name, cls in self.classes.items():
            is_meta = any((dotted_name(b) or "") in ("type", "ABCMeta") for b in cls.bases)
            if not is_meta and singleton_like(name):
                self.shared_classes.add(name)
        for name in self.shared_classes:
            self._collect_instance_attrs(name)

    def _mark_import_time_methods(self) -> None:
        """`app = App()` then `@app.route(...)` / `app.setup()` at module level: those methods
        are import-time setup, unless another function also uses them."""
        wanted = {(self.instances[inst], method) for inst, method in self._top_dotted if inst in self.instances}
        if not wanted:
            return
        for info in self.functions:
            if (info.class_name, info.name) not in wanted:
                continue
            offsets = self._occurrences([info.name])
            name = info.name
            used = any(
                other is not info and self._node_contains(offsets, other.node) and any(
                    (isinstance(n, ast.Attribute) and n.attr == name) or (isinstance(n, ast.Name) and n.id == name)
                    for n in iter_scope_nodes(other.node.body))
                for other in self.functions)
            if not used:
                info.import_time = True

    def _mark_returned_inner_functions(self) -> None:
        """The function a decorator factory returns is the decorator: it runs when it is applied,
        at import time when the factory is import-time setup (`@register("name")`). The function
        a decorator returns is the wrapper, which runs on every call (`@counted` -> `wrapper`)."""
        if not any(info.parents and info.parents[-1].import_time for info in self.functions):
            return
        decorated = [info.node for info in self.functions] + list(self.classes.values())
        bare = {dotted_name(d) for node in decorated for d in node.decorator_list if not isinstance(d, ast.Call)}
        decorators: Set[int] = set()  # functions a factory returned: their own inner functions are wrappers
        for info in self.functions:
            parent = info.parents[-1] if info.parents else None
            if parent is None or not parent.import_time or parent.name in bare or id(parent) in decorators:
                continue
            if any(isinstance(node, ast.Return) and isinstance(node.value, ast.Name) and node.value.id == info.name
                   for node in iter_scope_nodes(parent.node.body)):
                info.import_time = True
                decorators.add(id(info))

    def _infer_global_binding(self, name: str, value: ast.AST) -> None:
        binding = self.classify_value(value)
        current = self.bindings.get(name)
        if binding.kind == "container" and (current is None or current.kind in ("none", "unknown")):
            binding.name = name
            binding.node = current.node if current is not None else None
            self.bindings[name] = binding

    # ---- names ------------------------------------------------------------------------------
    def qualify(self, node: ast.AST) -> Optional[str]:
        name = dotted_name(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            head = self.imports[head]
        return f"{head}.{rest}" if rest else head

    def matches_lock_name(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.config.lock_names)

    def _runtime_name(self, qualified: str) -> Optional[str]:
        last = qualified.rsplit(".", 1)[-1]
        if "." not in qualified or qualified.startswith(("safestate_lint.runtime", self.config.runtime_module)):
            return last
        return None

    def _is_thread_safe_type(self, qualified: str) -> bool:
        if qualified in THREAD_SAFE_CTORS:
            return True
        if self._thread_safe_types:
            last = qualified.rsplit(".", 1)[-1]
            return qualified in self._thread_safe_types or last in self._thread_safe_types
        return False

    def _is_thread_local_class(self, name: str, depth: int = 0) -> bool:
        """A class of this module deriving from `threading.local`: its instances are per-thread."""
        cls = self.classes.get(name)
        if cls is None or depth > 10:
            return False
        for base in cls.bases:
            qualified = self.qualify(base) or ""
            if qualified in ("threading.local", "_thread._local") or self._is_thread_local_class(qualified, depth + 1):
                return True
        return False

    def classify_value(self, value: Optional[ast.AST], annotation: Optional[ast.AST] = None) -> Binding:
        """What an assigned value is (a container, a lock, ...)."""
        binding = self._classify_expr(value) if value is not None else Binding("", "unknown")
        if binding.kind in ("unknown", "none") and annotation is not None:
            base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
            if isinstance(base, ast.Constant) and isinstance(base.value, str):
                base_name = base.value.split("[", 1)[0].rsplit(".", 1)[-1]
            else:
                base_name = (dotted_name(base) or "").rsplit(".", 1)[-1]
            if base_name == "Optional" and isinstance(annotation, ast.Subscript):
                inner = self.classify_value(None, annotation.slice)
                if inner.kind == "container" and binding.kind == "none":
                    return Binding("", "none", type_name=inner.type_name)
            if base_name in ANNOTATION_CONTAINERS and binding.kind == "unknown":
                return Binding("", "container", ANNOTATION_CONTAINERS[base_name])
        return binding

    def _classify_expr(self, value: ast.AST) -> Binding:
        if isinstance(value, (ast.Dict, ast.DictComp)):
            return Binding("", "container", "dict")
        if isinstance(value, (ast.List, ast.ListComp)):
            return Binding("", "container", "list")
        if isinstance(value, (ast.Set, ast.SetComp)):
            return Binding("", "container", "set")
        if isinstance(value, ast.Constant):
            if value.value is None:
                return Binding("", "none")
            if isinstance(value.value, bool):
                return Binding("", "flag")
            return Binding("", "scalar")
        if isinstance(value, (ast.Tuple, ast.JoinedStr, ast.BinOp, ast.UnaryOp)):
            return Binding("", "scalar")
        if isinstance(value, ast.Call):
            qualified = self.qualify(value.func)
            if qualified is None:
                return Binding("", "unknown")
            if qualified in CONTAINER_CTORS:
                return Binding("", "container", CONTAINER_CTORS[qualified])
            if qualified in LOCK_CTORS:
                kind = qualified.rsplit(".", 1)[-1]
                if kind in ("Semaphore", "BoundedSemaphore") and _one_permit(value):
                    kind = "Lock"  # `Semaphore(1)` excludes every other holder: a mutex, not reentrant
                wraps = dotted_name(value.args[0]) or "" if kind == "Condition" and value.args else ""
                return Binding("", "lock", async_lock=LOCK_CTORS[qualified], lock_type=kind, wraps=wraps)
            runtime = self._runtime_name(qualified)
            if runtime is not None:
                if runtime in RUNTIME_CONTAINERS:
                    return Binding("", "locked", RUNTIME_CONTAINERS[runtime])
                if runtime in RUNTIME_LOCKS:
                    return Binding("", "lock", async_lock=RUNTIME_LOCKS[runtime], lock_type=runtime)
                if runtime in RUNTIME_THREAD_SAFE:
                    return Binding("", "threadsafe")
            if self._is_thread_safe_type(qualified) or self._is_thread_local_class(qualified):
                return Binding("", "threadsafe")
            if qualified in ("frozenset", "tuple", "str", "int", "float", "bytes", "object", "types.MappingProxyType"):
                return Binding("", "scalar")
            if qualified.rsplit(".", 1)[-1] in RUNTIME_CONTAINERS:
                return Binding("", "locked", RUNTIME_CONTAINERS[qualified.rsplit(".", 1)[-1]])
            if isinstance(value.func, ast.Name):
                made = self._lock_factory(value.func.id)
                if made is not None:
                    return made
            elif isinstance(value.func, ast.Attribute) and isinstance(value.func.value, ast.Name) \
                    and value.func.value.id in ("self", "cls"):
                made = self._lock_factory(f".{value.func.attr}")  # `self._create_lock()`
                if made is not None:
                    return made
        return Binding("", "unknown")

    def _lock_factory(self, name: str) -> Optional[Binding]:
        """A module function that hands out locks (`def named_lock(n): return _locks.setdefault(n,
        threading.Lock())`): what it returns, when every `return` makes or stores one lock kind.
        Memoised; a factory reached again while it is being classified (`f` returns `g()`, which
        returns `f()`) makes no lock."""
        if name not in self._factories:
            self._factories[name] = None
            self._factories[name] = self._lock_factory_of(name)
        return self._factories[name]

    def _lock_factory_of(self, name: str) -> Optional[Binding]:
        if name.startswith("."):  # a method: every method of that name in the module's classes makes one lock kind
            found = [self._factory_returns(method, name[1:]) for cls in self.classes.values() for method in cls.body
                     if isinstance(method, ast.FunctionDef) and method.name == name[1:]]
            kinds = {(b.lock_type, b.async_lock) if b is not None else None for b in found}
            return found[0] if len(kinds) == 1 and None not in kinds else None
        func = next((s for s in self.tree.body if isinstance(s, ast.FunctionDef) and s.name == name), None)
        if func is None:
            return None
        return self._factory_returns(func, name)

    def _factory_returns(self, func: ast.FunctionDef, name: str) -> Optional[Binding]:
        """The lock every `return` of `func` makes or hands out, when there is one kind."""
        made: List[Binding] = []
        # `lock = threading.Lock(); ...; return lock`: a local bound once to a made lock
        assigned: Dict[str, List[ast.expr]] = {}
        for node in iter_scope_nodes(func.body):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
        for node in iter_scope_nodes(func.body):
            if isinstance(node, ast.Return):
                value = node.value
                if isinstance(value, ast.Name) and len(assigned.get(value.id, ())) == 1:
                    value = assigned[value.id][0]
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                        and value.func.attr in ("setdefault", "get") and len(value.args) == 2:
                    value = value.args[1]
                binding = self._classify_expr(value) if isinstance(value, ast.Call) \
                    and not (isinstance(value.func, ast.Name) and value.func.id == name) else None
                if binding is None or binding.kind != "lock":
                    return None
                made.append(binding)
        kinds = {(b.lock_type, b.async_lock) for b in made}
        return made[0] if len(kinds) == 1 else None

    # ---- module level -------------------------------------------------------------------------
    def _module_statements(self) -> Iterator[ast.stmt]:
        """Statements that run at import time at module level (into if/try/with/for, not defs)."""
        stack: List[ast.stmt] = list(reversed(self.tree.body))
        while stack:
            stmt = stack.pop()
            yield stmt
            children: List[ast.stmt] = []
            if isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While)):
                children = stmt.body + stmt.orelse
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                children = stmt.body
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                children = stmt.body + [s for h in stmt.handlers for s in h.body] + stmt.orelse + stmt.finalbody  # type: ignore[attr-defined]
            elif type(stmt).__name__ == "Match":
                children = [s for case in stmt.cases for s in case.body]  # type: ignore[attr-defined]
            stack.extend(reversed(children))

    def _bind(self, name: str, binding: Binding, node: ast.AST) -> None:
        binding.name = name
        binding.node = node
        self.bindings[name] = binding
        self.binding_counts[name] = self.binding_counts.get(name, 0) + 1

    def _collect_module(self) -> None:
        for stmt in self._module_statements():
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        self.imports[alias.name.split(".")[0]] = alias.name.split(".")[0]
                    if alias.name.startswith(THREAD_MODULES):
                        self.thread_evidence = True
                    self.bindings.pop(alias.asname or alias.name.split(".")[0], None)
            elif isinstance(stmt, ast.ImportFrom):
                module = stmt.module or ""
                if module.startswith(THREAD_MODULES):
                    self.thread_evidence = True
                for alias in stmt.names:
                    local = alias.asname or alias.name
                    self.imports[local] = f"{module}.{alias.name}" if module else alias.name
                    self.bindings.pop(local, None)
            elif isinstance(stmt, ast.Assign):
                binding_value = stmt.value
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self._bind(target.id, self.classify_value(binding_value), stmt)
                    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(binding_value, (ast.Tuple, ast.List)) \
                            and len(target.elts) == len(binding_value.elts):
                        for elt, val in zip(target.elts, binding_value.elts):
                            if isinstance(elt, ast.Name):
                                self._bind(elt.id, self.classify_value(val), stmt)
                    else:
                        for name in _target_names(target):
                            self._bind(name, Binding(name, "unknown"), stmt)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self._bind(stmt.target.id, self.classify_value(stmt.value, stmt.annotation), stmt)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                for name in _target_names(stmt.target):
                    self._bind(name, Binding(name, "unknown"), stmt)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        for name in _target_names(item.optional_vars):
                            self._bind(name, Binding(name, "unknown"), stmt)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._bind(stmt.name, Binding(stmt.name, "function"), stmt)
            elif isinstance(stmt, ast.ClassDef):
                self._bind(stmt.name, Binding(stmt.name, "class"), stmt)
                self.classes[stmt.name] = stmt
                self._collect_class_attrs(stmt)
        if not self.thread_evidence and self._node_contains(self._occurrences(("to_thread", "run_in_executor")), self.tree):
            for node in walk(self.tree):
                if isinstance(node, ast.Attribute) and node.attr in ("to_thread", "run_in_executor"):
                    self.thread_evidence = True
                    break

    def _collect_class_attrs(self, cls: ast.ClassDef) -> None:
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.class_attrs[(cls.name, target.id)] = self.classify_value(stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                binding = self.classify_value(stmt.value, stmt.annotation)
                outer = stmt.annotation.value if isinstance(stmt.annotation, ast.Subscript) else stmt.annotation
                if stmt.value is None and binding.kind == "container" \
                        and (dotted_name(outer) or "").rsplit(".", 1)[-1] != "ClassVar":
                    continue  # `items: Dict[str, int]` with no value declares the instances' attribute
                self.class_attrs[(cls.name, stmt.target.id)] = binding

    # ---- functions ----------------------------------------------------------------------------
    def _collect_functions(self) -> None:
        top_called: Set[str] = set()
        self._top_dotted: Set[Tuple[str, str]] = set()  # `inst.method(...)` / `@inst.method` at import time
        for stmt in self._module_statements():
            nodes: Iterable[ast.AST]
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                nodes = [n for d in stmt.decorator_list for n in walk(d)]
                for decorator in stmt.decorator_list:
                    name = dotted_name(decorator)
                    if name is not None and "." not in name:
                        top_called.add(name)
                    elif name is not None and name.count(".") == 1:
                        self._top_dotted.add(tuple(name.split(".")))  # type: ignore[arg-type]
                if isinstance(stmt, ast.ClassDef):
                    nodes = list(nodes) + [n for s in stmt.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in walk(s)]
            elif isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
                nodes = _header_nodes(stmt)
            else:
                nodes = walk(stmt)
            for node in nodes:
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    top_called.add(node.func.id)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name):
                    self._top_dotted.add((node.func.value.id, node.func.attr))
        self._walrus = self._text is None or ":=" in self._text  # can an expression bind a name?
        self._walk_defs(self.tree.body, None, [], "")
        self._mark_fork_child_hooks()
        setup = [info for info in self.functions
                 if info.class_name is None and "." not in info.qualname and info.name in top_called]
        if not setup:
            return
        # called at import time, and never referenced from a function: import-time setup
        offsets = self._occurrences({info.name for info in setup})
        referenced: Set[str] = set()
        for info in self.functions:
            if self._node_contains(offsets, info.node):
                for node in iter_scope_nodes(info.node.body):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                        referenced.add(node.id)
        for info in setup:
            if info.name not in referenced:
                info.import_time = True

    def _mark_fork_child_hooks(self) -> None:
        """`os.register_at_fork(after_in_child=f)` at import time: `f` runs in the child of a
        fork, which has one thread."""
        if self._text is not None and "after_in_child" not in self._text:
            return
        hooks: Set[str] = set()
        for stmt in self._module_statements():
            for node in walk(stmt):
                if isinstance(node, ast.Call) and dotted_name(node.func) is not None \
                        and self.qualify(node.func) == "os.register_at_fork":
                    hooks.update(k.value.id for k in node.keywords
                                 if k.arg == "after_in_child" and isinstance(k.value, ast.Name))
        if not hooks:
            return
        offsets = self._occurrences(hooks)
        used = {n.id for info in self.functions if self._node_contains(offsets, info.node)
                for n in iter_scope_nodes(info.node.body) if isinstance(n, ast.Name) and n.id in hooks}
        for info in self.functions:
            if info.class_name is None and "." not in info.qualname and info.name in hooks - used:
                info.import_time = True

    def _walk_defs(self, body: Sequence[ast.stmt], class_node: Optional[ast.ClassDef],
                   enclosing: List[FunctionInfo], prefix: str) -> None:
        for node in _iter_defs(body):
            if isinstance(node, ast.ClassDef):
                self._walk_defs(node.body, node, enclosing, f"{prefix}{node.name}.")
                continue
            info = FunctionInfo(node=node, qualname=f"{prefix}{node.name}", parents=list(enclosing),
                                walrus=self._walrus)
            if class_node is not None:
                self._classify_method(info, class_node)
            info.synchronized = any(self._is_sync_decorator(d) for d in node.decorator_list)
            self.functions.append(info)
            if enclosing and class_node is None:
                self.nested_index.setdefault((id(enclosing[-1].node), node.name), info)
            elif not enclosing:
                self.function_index.setdefault((class_node.name if class_node is not None else None, node.name), info)
            if self._def_offsets is None:
                self._def_offsets = self._occurrences(("def", "class"))
            if self._lines_contain(self._def_offsets, node.body[0].lineno, node.end_lineno):
                self._walk_defs(node.body, None, enclosing + [info], f"{prefix}{node.name}.<locals>.")

    def _locking_decorators(self) -> Set[str]:
        """Module functions that call their argument inside `with <lock>:` (a hand-written
        `@synchronized`): `def locked(fn): def wrapper(*a): with _lock: return fn(*a)`."""
        if self._locking is None:
            self._locking = set()
            for stmt in self.tree.body:
                if not isinstance(stmt, ast.FunctionDef) or not stmt.args.args:
                    continue
                wrapped = stmt.args.args[0].arg
                for inner in walk(stmt):
                    if not isinstance(inner, (ast.With, ast.AsyncWith)):
                        continue
                    locks = [item.context_expr for item in inner.items]
                    if not any(self._names_a_lock(expr) for expr in locks):
                        continue
                    if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == wrapped
                           for body_stmt in inner.body for n in walk(body_stmt)):
                        self._locking.add(stmt.name)
                        break
        return self._locking

    def _names_a_lock(self, expr: ast.AST) -> bool:
        name = dotted_name(expr.func if isinstance(expr, ast.Call) else expr)
        if name is None:
            return False
        binding = self.bindings.get(name)
        return (binding is not None and binding.kind == "lock") or self.matches_lock_name(name.rsplit(".", 1)[-1])

    def is_once_factory(self, name: str) -> bool:
        """A module-level function decorated with the runtime's `singleton` or `functools.cache`."""
        binding = self.bindings.get(name)
        node = binding.node if binding is not None and binding.kind == "function" else None
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.args.args:
            return False
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            qualified = self.qualify(target) or ""
            if qualified in ONCE_DECORATORS or self._runtime_name(qualified) == "singleton":
                return True
        return False

    def _is_sync_decorator(self, decorator: ast.AST) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        written = dotted_name(target)
        if written is None:
            return False
        if written in self._locking_decorators():
            return True
        qualified = self.qualify(target) or written
        return any(fnmatch.fnmatchcase(written, p) or fnmatch.fnmatchcase(qualified, p)
                   for p in self.config.synchronized_decorators)

    def _classify_method(self, info: FunctionInfo, cls: ast.ClassDef) -> None:
        node = info.node
        info.class_name = cls.name
        decorators = {dotted_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
        params = node.args.posonlyargs + node.args.args
        first = params[0].arg if params else None
        is_meta = any((dotted_name(b) or "").rsplit(".", 1)[-1] in ("type", "ABCMeta") or
                      (dotted_name(b) or "").endswith("Meta") for b in cls.bases)
        if "staticmethod" in decorators:
            info.method_kind = "staticmethod"
        elif "classmethod" in decorators or node.name in ("__new__", "__init_subclass__", "__class_getitem__"):
            info.method_kind = "new" if node.name == "__new__" else "classmethod"
            info.cls_param = first
        elif is_meta:
            info.method_kind = "metaclass"
            info.cls_param = first
        else:
            info.method_kind = "method"
            info.self_param = first

    # ---- keys -----------------------------------------------------------------------------
    def method(self, class_name: str, name: str, depth: int = 0) -> Optional[FunctionInfo]:
        """The method `name` of a module class, looked up through the module's base classes."""
        found = self.function_index.get((class_name, name))
        cls = self.classes.get(class_name)
        if found is not None or cls is None or depth > 10:
            return found
        for base in cls.bases:
            base_name = dotted_name(base)
            if base_name in self.classes:
                found = self.method(base_name, name, depth + 1)
                if found is not None:
                    return found
        return None

    def binding_of(self, key: SharedKey) -> Optional[Binding]:
        if key[0] == "g":
            return self.bindings.get(key[1]) or PROCESS_STATE.get(key[1])
        if key[0] == "n":
            return None  # a closure cell: a flag or a counter, never a container we follow
        if key[0] in ("i", "o"):
            return self.instance_attrs.get((key[1], key[2]))
        return self.class_attrs.get((key[1], key[2]))

    def describe(self, key: SharedKey) -> str:
        if key[0] in ("g", "n"):
            return key[-1]
        if key[0] in ("i", "o"):
            return f"self.{key[2]}"
        return f"{key[1]}.{key[2]}"

    def thread_capable(self, region: LockRegion) -> bool:
        return not (region.async_lock and self.thread_evidence)

