"""One analysis of a module that every rule (and every fixer) reads.

The module is parsed once with :mod:`ast` (exact positions, no execution, and the
same tree flake8 hands its plugins).  One walk of each function body records:

* module bindings: what each module-level name is bound to (a mutable container,
  a runtime locked container, a thread-safe object, a lock, ``None``, a flag, ...);
* scopes: parameters, locals, ``global``/``nonlocal`` declarations, closures and
  comprehension variables, so a local that shadows a global is never a finding;
* lock regions: ``with``/``async with`` on a lock (any item of a multi-item
  ``with``), ``acquire()`` ... ``finally: release()``, synchronizing decorators and
  the configured lock-name patterns;
* facts: rebinding of globals (:class:`Rebind`), mutation of shared containers and
  class attributes (:class:`Act`), and the check each act depends on
  (:class:`Check`: an ``if`` testing the same shared thing, directly or through a
  local that was read from it).

Rules only decide which facts are findings; fixers read the same facts to know
what to rewrite.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from safestate_lint.config import Config

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
SharedKey = Tuple[str, ...]  # ("g", name) for a module global, ("c", class, attr) for a class attribute

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
RUNTIME_LOCKS: Dict[str, bool] = {"RWLock": False, "AsyncRWLock": True}
RUNTIME_CONTAINERS: Dict[str, str] = {"LockedDict": "dict", "LockedList": "list", "LockedSet": "set"}
RUNTIME_THREAD_SAFE = frozenset({"AtomicCounter", "StateManager", "TTLCache", "Singleton", "singleton"})
# methods that run before an instance is shared
_CONSTRUCTORS = frozenset({"__init__", "__new__", "__post_init__", "__init_subclass__", "__set_name__"})
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
# calls through which `X.get(k).append(v)` still reaches a container held inside X
ELEMENT_ACCESSORS = frozenset({"get", "setdefault", "__getitem__"})
LOCK_METHODS = frozenset({"read", "write", "reader", "writer", "read_lock", "write_lock", "locked",
                          "acquire_read", "acquire_write", "gen_rlock", "gen_wlock", "transaction_lock"})


@dataclass
class Binding:
    """What a module-level name is bound to."""

    name: str
    kind: str  # container | locked | threadsafe | lock | none | flag | scalar | unknown | function | class
    type_name: str = ""  # dict, list, set, defaultdict, ... for containers
    node: Optional[ast.AST] = None
    async_lock: bool = False

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


@dataclass
class FunctionInfo:
    node: FunctionNode
    qualname: str
    class_name: Optional[str] = None
    method_kind: str = "function"  # function | method | classmethod | staticmethod | new | metaclass
    cls_param: Optional[str] = None
    self_param: Optional[str] = None
    globals_declared: Set[str] = field(default_factory=set)
    locals: Set[str] = field(default_factory=set)
    closure: Set[str] = field(default_factory=set)
    import_time: bool = False
    synchronized: bool = False
    parents: List["FunctionInfo"] = field(default_factory=list)
    scoped: bool = False

    def ensure_scope(self) -> None:
        """Parameters, locals, declarations and closure names (computed on first use)."""
        if self.scoped:
            return
        self.scoped = True
        _collect_scope(self)
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


# -- helpers ---------------------------------------------------------------------------------


def dotted_name(node: ast.AST) -> Optional[str]:
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _terminates(body: Sequence[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))


_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _target_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _target_names(elt)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def iter_scope_nodes(body: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node of a function body, not descending into nested scopes (their defaults and
    decorators, which run in this scope, are included)."""
    stack: List[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend(node.decorator_list)
            stack.extend(node.bases)
            continue
        if isinstance(node, ast.Lambda):
            stack.extend(node.args.defaults)
            continue
        if isinstance(node, _COMPREHENSIONS):
            # walrus targets in comprehensions bind in this scope; the rest is the comprehension's own
            stack.append(node.generators[0].iter)
            continue
        stack.extend(ast.iter_child_nodes(node))


# -- the module analysis -------------------------------------------------------------------------


class ModuleAnalysis:
    """Facts about one module, computed once."""

    def __init__(self, tree: ast.Module, config: Config, lines: Optional[Sequence[str]] = None,
                 *, prefilter: bool = True) -> None:
        self.tree = tree
        self.config = config
        self.lines = lines
        self.imports: Dict[str, str] = {}
        self.bindings: Dict[str, Binding] = {}
        self.binding_counts: Dict[str, int] = {}  # module-level assignments of each name
        self.classes: Dict[str, ast.ClassDef] = {}
        self.class_attrs: Dict[Tuple[str, str], Binding] = {}
        self.functions: List[FunctionInfo] = []
        self.acts: List[Act] = []
        self.thread_evidence = False
        self._thread_safe_types = set(config.thread_safe_types)
        self._instance_attrs_done: Set[str] = set()
        self._def_offsets: Optional[List[int]] = None
        self._locking: Optional[Set[str]] = None
        # classes whose one instance every thread shares (singleton evidence), their
        # instance attributes, and the module-level names bound to such an instance
        self.shared_classes: Set[str] = set()
        self.instance_attrs: Dict[Tuple[str, str], Binding] = {}
        self.instances: Dict[str, str] = {}
        # the source text lets a cheap exact pre-pass skip functions that cannot touch shared state
        self._text = "".join(lines) if (lines is not None and prefilter) else None
        self._line_starts: List[int] = []
        if self._text is not None:
            offset = 0
            for line in lines or ():
                self._line_starts.append(offset)
                offset += len(line)
            self._line_starts.append(offset)
        self._collect_module()
        self._collect_functions()
        self._collect_global_rebinds()
        self._collect_shared_classes()
        self._mark_import_time_methods()
        self._mark_returned_inner_functions()
        candidates = self._candidate_offsets()
        for info in self.functions:
            if info.import_time or not self._may_touch_shared_state(info, candidates):
                continue
            info.ensure_scope()
            _FunctionWalker(self, info).run()

    # ---- the pre-pass -------------------------------------------------------------------------
    def _occurrences(self, words: Iterable[str], follow: str = "") -> List[int]:
        """Sorted offsets of whole-word occurrences in the source text (C-speed `str.find`).

        With `follow`, only occurrences whose next non-blank character (skipping `)` and
        backslash continuations) is in `follow`."""
        text = self._text or ""
        size = len(text)
        found: List[int] = []
        for word in words:
            length = len(word)
            start = 0
            while True:
                index = text.find(word, start)
                if index < 0:
                    break
                start = index + length
                if index and (text[index - 1].isalnum() or text[index - 1] == "_"):
                    continue
                after = index + length
                if after < size and (text[after].isalnum() or text[after] == "_"):
                    continue
                if follow:
                    while after < size and text[after] in " \t\r\n\\)":
                        after += 1
                    if after >= size or text[after] not in follow:
                        continue
                found.append(index)
        found.sort()
        return found

    def _node_contains(self, offsets: List[int], node: ast.AST) -> bool:
        """Whether one of `offsets` lies in the source text of `node` (True when there is no text)."""
        return self._lines_contain(offsets, getattr(node, "lineno", 1), getattr(node, "end_lineno", None))

    def _lines_contain(self, offsets: List[int], first: int, last: Optional[int]) -> bool:
        if self._text is None:
            return True
        count = len(self._line_starts) - 1
        if last is None or last > count:
            last = count
        if first - 1 >= count:
            return True
        start, end = self._line_starts[first - 1], self._line_starts[last]
        index = bisect.bisect_left(offsets, start)
        return index < len(offsets) and offsets[index] < end

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
        # a plain container can also be iterated (`for x in X`, `enumerate(X)`): any mention counts
        hits += self._occurrences([name for name, b in self.bindings.items() if b.kind == "container"])
        hits += self._occurrences(["global", "setattr", "__class__"] + [f.rsplit(".", 1)[-1] for f in MUTATING_FUNCTIONS])
        hits += self._occurrences(["type"], follow="(")
        hits.sort()
        return hits

    def _may_touch_shared_state(self, info: FunctionInfo, candidates: List[int]) -> bool:
        if info.method_kind in ("classmethod", "new", "metaclass"):
            return True
        if info.method_kind == "method" and info.class_name in self.shared_classes:
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
                      for inner in stmt.body for node in ast.walk(inner)}  # type: ignore[attr-defined]
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
            if annotation is not None:
                inner = annotation.slice if isinstance(annotation, ast.Subscript) else annotation
                label = inner.value if isinstance(inner, ast.Constant) else dotted_name(inner)
                if isinstance(label, str) and label in self.classes:
                    self.shared_classes.add(label)

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
            cls = self.classes[name]
            for stmt in cls.body:
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or not stmt.args.args:
                    continue
                self_name = stmt.args.args[0].arg
                for node in iter_scope_nodes(stmt.body):
                    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for target in targets:
                            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                    and target.value.id == self_name:
                                annotation = node.annotation if isinstance(node, ast.AnnAssign) else None
                                binding = self.classify_value(node.value, annotation)
                                current = self.instance_attrs.get((name, target.attr))
                                if current is None or (current.kind in ("none", "unknown") and binding.kind != "unknown"):
                                    self.instance_attrs[(name, target.attr)] = binding

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
        """The function a decorator factory returns runs when the decorator is applied: at
        import time when the factory is import-time setup (`@register("name")`)."""
        for info in self.functions:
            parent = info.parents[-1] if info.parents else None
            if parent is None or not parent.import_time:
                continue
            if any(isinstance(node, ast.Return) and isinstance(node.value, ast.Name) and node.value.id == info.name
                   for node in iter_scope_nodes(parent.node.body)):
                info.import_time = True

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
                return Binding("", "lock", async_lock=LOCK_CTORS[qualified])
            runtime = self._runtime_name(qualified)
            if runtime is not None:
                if runtime in RUNTIME_CONTAINERS:
                    return Binding("", "locked", RUNTIME_CONTAINERS[runtime])
                if runtime in RUNTIME_LOCKS:
                    return Binding("", "lock", async_lock=RUNTIME_LOCKS[runtime])
                if runtime in RUNTIME_THREAD_SAFE:
                    return Binding("", "threadsafe")
            if self._is_thread_safe_type(qualified) or self._is_thread_local_class(qualified):
                return Binding("", "threadsafe")
            if qualified in ("frozenset", "tuple", "str", "int", "float", "bytes", "object", "types.MappingProxyType"):
                return Binding("", "scalar")
            if qualified.rsplit(".", 1)[-1] in RUNTIME_CONTAINERS:
                return Binding("", "locked", RUNTIME_CONTAINERS[qualified.rsplit(".", 1)[-1]])
        return Binding("", "unknown")

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
            for node in ast.walk(self.tree):
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
                self.class_attrs[(cls.name, stmt.target.id)] = self.classify_value(stmt.value, stmt.annotation)

    def instance_lock(self, class_name: str, attr: str) -> Optional[Binding]:
        """A lock stored on instances (`self._lock = threading.Lock()`), found on first use."""
        if class_name not in self._instance_attrs_done:
            self._instance_attrs_done.add(class_name)
            cls = self.classes.get(class_name)
            for stmt in cls.body if cls is not None else ():
                if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or not stmt.args.args:
                    continue
                self_name = stmt.args.args[0].arg
                for node in iter_scope_nodes(stmt.body):
                    if isinstance(node, ast.Assign) and len(node.targets) == 1:
                        target = node.targets[0]
                        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                and target.value.id == self_name:
                            binding = self.classify_value(node.value)
                            if binding.kind == "lock":
                                self.class_attrs.setdefault((class_name, target.attr), binding)
        return self.class_attrs.get((class_name, attr))

    # ---- functions ----------------------------------------------------------------------------
    def _collect_functions(self) -> None:
        top_called: Set[str] = set()
        self._top_dotted: Set[Tuple[str, str]] = set()  # `inst.method(...)` / `@inst.method` at import time
        for stmt in self._module_statements():
            nodes: Iterable[ast.AST]
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                nodes = [n for d in stmt.decorator_list for n in ast.walk(d)]
                for decorator in stmt.decorator_list:
                    name = dotted_name(decorator)
                    if name is not None and "." not in name:
                        top_called.add(name)
                    elif name is not None and name.count(".") == 1:
                        self._top_dotted.add(tuple(name.split(".")))  # type: ignore[arg-type]
                if isinstance(stmt, ast.ClassDef):
                    nodes = list(nodes) + [n for s in stmt.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(s)]
            elif isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
                nodes = _header_nodes(stmt)
            else:
                nodes = ast.walk(stmt)
            for node in nodes:
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    top_called.add(node.func.id)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name):
                    self._top_dotted.add((node.func.value.id, node.func.attr))
        self._walk_defs(self.tree.body, None, [], "")
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

    def _walk_defs(self, body: Sequence[ast.stmt], class_node: Optional[ast.ClassDef],
                   enclosing: List[FunctionInfo], prefix: str) -> None:
        for node in _iter_defs(body):
            if isinstance(node, ast.ClassDef):
                self._walk_defs(node.body, node, enclosing, f"{prefix}{node.name}.")
                continue
            info = FunctionInfo(node=node, qualname=f"{prefix}{node.name}", parents=list(enclosing))
            if class_node is not None:
                self._classify_method(info, class_node)
            info.synchronized = any(self._is_sync_decorator(d) for d in node.decorator_list)
            self.functions.append(info)
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
                for inner in ast.walk(stmt):
                    if not isinstance(inner, (ast.With, ast.AsyncWith)):
                        continue
                    locks = [item.context_expr for item in inner.items]
                    if not any(self._names_a_lock(expr) for expr in locks):
                        continue
                    if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == wrapped
                           for body_stmt in inner.body for n in ast.walk(body_stmt)):
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
    def binding_of(self, key: SharedKey) -> Optional[Binding]:
        if key[0] == "g":
            return self.bindings.get(key[1])
        if key[0] == "i":
            return self.instance_attrs.get((key[1], key[2]))
        return self.class_attrs.get((key[1], key[2]))

    def describe(self, key: SharedKey) -> str:
        if key[0] == "g":
            return key[1]
        if key[0] == "i":
            return f"self.{key[2]}"
        return f"{key[1]}.{key[2]}"

    def thread_capable(self, region: LockRegion) -> bool:
        return not (region.async_lock and self.thread_evidence)

    def lazy_init_status(self, act: Act) -> Optional[str]:
        """How a check-then-act on a global or class attribute (lazy init) is protected.

        None: not a check-then-act of that kind, or correctly protected (checked and set
        under one acquisition of a lock that excludes threads).  "unlocked": no lock at all.
        "no-recheck": the act is under a lock but the check before it is not repeated inside.
        "async-lock": the only lock is an asyncio-style lock, but threads reach the state.
        """
        check = act.check
        if act.key[0] == "i" or check is None or act.key not in check.keys or act.reads_self or act.idempotent \
                or act.resets:
            return None
        if act.key[0] == "g" and (act.kind != "rebind" or act.key not in check.lazy_keys):
            return None
        if check.shares_lock_with(act.locks, self.thread_capable):
            return None
        if any(self.thread_capable(region) for region in act.locks):
            return "no-recheck"
        if act.locks or check.locks:
            return "async-lock"
        return "unlocked"

    @staticmethod
    def is_locked(act: Act) -> bool:
        return bool(act.locks)


def _is_main_guard(stmt: ast.stmt) -> bool:
    """`if __name__ == "__main__":`"""
    test = getattr(stmt, "test", None)
    return isinstance(stmt, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) \
        and test.left.id == "__name__" and len(test.comparators) == 1 \
        and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__"


def _header_nodes(stmt: ast.stmt) -> List[ast.AST]:
    nodes: List[ast.AST] = []
    for name in ("test", "iter"):
        value = getattr(stmt, name, None)
        if value is not None:
            nodes.extend(ast.walk(value))
    for item in getattr(stmt, "items", []) or []:
        nodes.extend(ast.walk(item.context_expr))
    return nodes


def _iter_defs(body: Sequence[ast.stmt]) -> Iterator[Union[FunctionNode, ast.ClassDef]]:
    """Function and class definitions in a block, looking into compound statements but not into defs."""
    stack: List[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
            continue
        if isinstance(node, ast.stmt):
            children = [c for c in ast.iter_child_nodes(node) if isinstance(c, (ast.stmt, ast.excepthandler, ast.match_case))] \
                if hasattr(ast, "match_case") else [c for c in ast.iter_child_nodes(node) if isinstance(c, (ast.stmt, ast.excepthandler))]
            stack.extend(reversed(children))
        elif isinstance(node, ast.excepthandler) or type(node).__name__ == "match_case":
            stack.extend(reversed(node.body))  # type: ignore[attr-defined]


def _collect_scope(info: FunctionInfo) -> None:
    args = info.node.args
    params = args.posonlyargs + args.args + args.kwonlyargs
    names = {a.arg for a in params}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    nonlocal_names: Set[str] = set()
    for node in iter_scope_nodes(info.node.body):
        if isinstance(node, ast.Global):
            info.globals_declared.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            nonlocal_names.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif type(node).__name__ in ("MatchAs", "MatchStar") and getattr(node, "name", None):
            names.add(node.name)  # type: ignore[attr-defined]
        elif type(node).__name__ == "MatchMapping" and getattr(node, "rest", None):
            names.add(node.rest)  # type: ignore[attr-defined]
    info.locals = (names - info.globals_declared) | nonlocal_names


# -- the per-function walk ---------------------------------------------------------------------


@dataclass
class _Derived:
    keys: FrozenSet[SharedKey]
    origin: ast.stmt
    locks: Tuple[LockRegion, ...]


class _FunctionWalker:
    """Walks one function body once, recording acts with their locks and checks."""

    def __init__(self, module: ModuleAnalysis, info: FunctionInfo) -> None:
        self.m = module
        self.info = info
        self.derived: Dict[str, _Derived] = {}
        self.local_locks: Dict[str, bool] = {}

    def run(self) -> None:
        locks: Tuple[LockRegion, ...] = ()
        if self.info.synchronized:
            locks = (LockRegion(id(self.info.node), "@synchronized", False, self.info.node),)
        self.block(self.info.node.body, locks, ())

    # ---- resolution -------------------------------------------------------------------------
    def key_of_name(self, name: str) -> Optional[SharedKey]:
        info = self.info
        if name in info.globals_declared:
            return ("g", name)
        if name in info.locals or name in info.closure:
            return None
        binding = self.m.bindings.get(name)
        if binding is None or binding.kind in ("function", "class", "lock", "threadsafe"):
            return None
        return ("g", name)

    def class_of(self, node: ast.AST) -> Optional[str]:
        """The class a `cls`, `ClassName`, `type(self)` or `self.__class__` expression denotes."""
        info = self.info
        if isinstance(node, ast.Name):
            if info.cls_param and node.id == info.cls_param and info.class_name:
                return info.class_name
            if node.id in self.m.classes and node.id not in info.locals and node.id not in info.closure:
                return node.id
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type" \
                and len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id == info.self_param:
            return info.class_name
        elif isinstance(node, ast.Attribute) and node.attr == "__class__" and isinstance(node.value, ast.Name) \
                and node.value.id == info.self_param:
            return info.class_name
        return None

    def key_of(self, node: ast.AST) -> Optional[SharedKey]:
        """The shared thing an expression denotes itself: a global name or a class attribute."""
        if isinstance(node, ast.Name):
            return self.key_of_name(node.id)
        if isinstance(node, ast.Attribute):
            cls = self.class_of(node.value)
            if cls is not None and not node.attr.startswith("__"):
                binding = self.m.class_attrs.get((cls, node.attr))
                if binding is not None and binding.kind in ("lock", "threadsafe", "function"):
                    return None
                return ("c", cls, node.attr)
            info = self.info
            if info.self_param and isinstance(node.value, ast.Name) and node.value.id == info.self_param \
                    and info.class_name in self.m.shared_classes and info.name not in _CONSTRUCTORS \
                    and not node.attr.startswith("__"):
                binding = self.m.instance_attrs.get((info.class_name, node.attr))
                if binding is None or binding.kind in ("lock", "threadsafe", "function"):
                    return None  # methods, properties and per-call attributes are not state we track
                return ("i", info.class_name, node.attr)
        return None

    def root_key(self, node: ast.AST, through_calls: bool = False) -> Tuple[Optional[SharedKey], int]:
        """The shared thing whose contents an expression reaches (`X[k].y` -> X), with the depth."""
        depth = 0
        while True:
            key = self.key_of(node)
            if key is not None:
                return key, depth
            if isinstance(node, ast.Subscript):
                node = node.value
            elif isinstance(node, ast.Attribute):
                node = node.value
            elif through_calls and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ELEMENT_ACCESSORS:
                node = node.func.value
            else:
                return None, depth
            depth += 1

    # ---- reads ----------------------------------------------------------------------------
    def reads(self, node: Optional[ast.AST], shadow: FrozenSet[str] = frozenset()) -> Set[SharedKey]:
        """Shared keys read in an expression (comprehension and lambda variables shadow)."""
        found: Set[SharedKey] = set()
        if node is None:
            return found
        stack: List[Tuple[ast.AST, FrozenSet[str]]] = [(node, shadow)]
        while stack:
            current, names = stack.pop()
            if isinstance(current, ast.Name):
                if isinstance(current.ctx, ast.Load) and current.id not in names:
                    key = self.key_of_name(current.id)
                    if key is not None:
                        found.add(key)
                continue
            if isinstance(current, ast.Attribute):
                key = self.key_of(current)
                if key is not None and isinstance(current.ctx, ast.Load):
                    found.add(key)
                    continue
            if isinstance(current, _COMPREHENSIONS):
                inner = set(names)
                for generator in current.generators:
                    inner.update(_target_names(generator.target))
                frozen = frozenset(inner)
                stack.append((current.generators[0].iter, names))
                for generator in current.generators:
                    if generator is not current.generators[0]:
                        stack.append((generator.iter, frozen))
                    stack.extend((cond, frozen) for cond in generator.ifs)
                if isinstance(current, ast.DictComp):
                    stack.append((current.key, frozen))
                    stack.append((current.value, frozen))
                else:
                    stack.append((current.elt, frozen))  # type: ignore[attr-defined]
                continue
            if isinstance(current, ast.Lambda):
                continue
            if isinstance(current, ast.Call) and isinstance(current.func, ast.Name) \
                    and current.func.id in ("hasattr", "getattr") and len(current.args) >= 2:
                target, attr = current.args[0], current.args[1]
                cls = self.class_of(target)
                if cls is not None and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    found.add(("c", cls, attr.value))
            for child in ast.iter_child_nodes(current):
                stack.append((child, names))
        return found

    def lazy_keys(self, test: ast.AST) -> Set[SharedKey]:
        """Keys that a test checks for None / falsiness / existence (lazy initialisation)."""
        found: Set[SharedKey] = set()
        stack = [test]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                stack.append(node.operand)
            elif isinstance(node, ast.BoolOp):
                stack.extend(node.values)
            elif isinstance(node, ast.NamedExpr):
                stack.append(node.value)
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 \
                    and isinstance(node.ops[0], (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)):
                left, right = node.left, node.comparators[0]
                if _is_none(right) or (isinstance(right, ast.Constant) and isinstance(right.value, bool)):
                    stack.append(left)
                elif _is_none(left):
                    stack.append(right)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("hasattr", "getattr") and len(node.args) >= 2:
                found |= self.reads(node)
            elif isinstance(node, ast.Name):
                key = self.key_of_name(node.id)
                if key is not None:
                    found.add(key)
                elif node.id in self.derived:
                    found |= self.derived[node.id].keys
            elif isinstance(node, ast.Attribute):
                key = self.key_of(node)
                if key is not None:
                    found.add(key)
        return found

    # ---- locks ----------------------------------------------------------------------------
    def lock_of(self, expr: ast.AST) -> Optional[LockRegion]:
        """The lock a `with` item / `acquire()` target holds, if it is one."""
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Attribute) and func.attr in LOCK_METHODS:
                return self.lock_of(func.value)
            name = dotted_name(func)
            if name is not None and self.m.matches_lock_name(name.rsplit(".", 1)[-1]):
                return LockRegion(0, name)
            return None
        if isinstance(expr, ast.Subscript):
            inner = self.lock_of(expr.value)
            if inner is not None:
                return inner
            name = dotted_name(expr.value)
            if name is not None and name.rsplit(".", 1)[-1].rstrip("s") and \
                    self.m.matches_lock_name(name.rsplit(".", 1)[-1].rstrip("s")):
                return LockRegion(0, name)
            return None
        name = dotted_name(expr)
        if name is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if isinstance(expr, ast.Name):
            if expr.id in self.local_locks:
                return LockRegion(0, name, self.local_locks[expr.id])
            binding = self.m.bindings.get(expr.id)
            if binding is not None and binding.kind == "lock" and expr.id not in self.info.locals:
                return LockRegion(0, name, binding.async_lock)
        elif isinstance(expr, ast.Attribute):
            owner = self.class_of(expr.value)
            if owner is None and self.info.self_param and isinstance(expr.value, ast.Name) \
                    and expr.value.id == self.info.self_param:
                owner = self.info.class_name
            if owner is not None:
                binding = self.m.instance_lock(owner, expr.attr)
                if binding is not None and binding.kind == "lock":
                    return LockRegion(0, name, binding.async_lock)
            if isinstance(expr.value, ast.Name) and expr.attr == "lock":
                binding = self.m.bindings.get(expr.value.id)
                if binding is not None and binding.kind == "locked":
                    return LockRegion(0, name)
        if self.m.matches_lock_name(last):
            return LockRegion(0, name)
        return None

    # ---- the walk -------------------------------------------------------------------------
    def block(self, body: Sequence[ast.stmt], locks: Tuple[LockRegion, ...], checks: Tuple[Check, ...]) -> None:
        held: Dict[str, LockRegion] = {}  # acquire() ... release() in this block
        for stmt in body:
            current = locks + tuple(held.values())
            self.stmt(stmt, current, checks)
            acquired = _acquire_target(stmt)
            if acquired is not None:
                region = self.lock_of(acquired)
                if region is not None:
                    held[ast.dump(acquired)] = LockRegion(id(stmt), region.name, region.async_lock, stmt)
            released = _release_target(stmt)
            if released is not None:
                held.pop(ast.dump(released), None)
            if isinstance(stmt, ast.If) and not stmt.orelse and _terminates(stmt.body):
                # `if X is not None: return X` guards every statement after it
                checks = checks + tuple(self.checks_of(stmt, current))

    def checks_of(self, stmt: ast.If, locks: Tuple[LockRegion, ...]) -> List[Check]:
        test = stmt.test
        keys = self.reads(test)
        lazy = self.lazy_keys(test)
        found: List[Check] = []
        if keys:
            found.append(Check(frozenset(keys), frozenset(lazy & keys), stmt, stmt, locks))
        for node in ast.walk(test):
            if isinstance(node, ast.Name) and node.id in self.derived and node.id in self.info.locals:
                derived = self.derived[node.id]
                found.append(Check(derived.keys, frozenset(lazy & derived.keys), stmt, derived.origin, derived.locks))
        return found

    def stmt(self, stmt: ast.stmt, locks: Tuple[LockRegion, ...], checks: Tuple[Check, ...]) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        if isinstance(stmt, ast.If):
            self.record_calls(stmt.test, stmt, locks, checks)
            inner = checks + tuple(self.checks_of(stmt, locks))
            self.block(stmt.body, locks, inner)
            self.block(stmt.orelse, locks, inner)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            inner_locks = locks
            for item in stmt.items:
                self.record_calls(item.context_expr, stmt, locks, checks)
                region = self.lock_of(item.context_expr)
                if region is not None:
                    inner_locks = inner_locks + (LockRegion(id(stmt), region.name, region.async_lock, stmt),)
            self.block(stmt.body, inner_locks, checks)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            try_stmt: ast.Try = stmt  # type: ignore[assignment]
            inner_locks = locks
            for final in try_stmt.finalbody:
                released = _release_target(final)
                region = self.lock_of(released) if released is not None else None
                if region is not None:
                    inner_locks = inner_locks + (LockRegion(id(stmt), region.name, region.async_lock, stmt),)
            self.block(try_stmt.body, inner_locks, checks)
            for handler in try_stmt.handlers:
                self.block(handler.body, inner_locks, checks)
            self.block(try_stmt.orelse, inner_locks, checks)
            self.block(try_stmt.finalbody, locks, checks)
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            self.record_iteration(stmt.iter, stmt, locks, checks)
            self.record_calls(stmt.iter, stmt, locks, checks)
            for name in _target_names(stmt.target):
                self.derived.pop(name, None)
            self.block(stmt.body, locks, checks)
            self.block(stmt.orelse, locks, checks)
            return
        if isinstance(stmt, ast.While):
            self.record_calls(stmt.test, stmt, locks, checks)
            self.block(stmt.body, locks, checks)
            self.block(stmt.orelse, locks, checks)
            return
        if type(stmt).__name__ == "Match":
            self.record_calls(stmt.subject, stmt, locks, checks)  # type: ignore[attr-defined]
            for case in stmt.cases:  # type: ignore[attr-defined]
                self.block(case.body, locks, checks)
            return
        self.simple(stmt, locks, checks)

    def simple(self, stmt: ast.stmt, locks: Tuple[LockRegion, ...], checks: Tuple[Check, ...]) -> None:
        targets: List[ast.expr] = []
        value: Optional[ast.AST] = None
        augmented = False
        if isinstance(stmt, ast.Assign):
            targets, value = list(stmt.targets), stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            targets, value = [stmt.target], stmt.value
        elif isinstance(stmt, ast.AugAssign):
            targets, value, augmented = [stmt.target], stmt.value, True
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                self.record_store(target, stmt, locks, checks, None, deleting=True)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value_reads = self.reads(value)
            for name in _value_locals(value):
                if name in self.derived:
                    value_reads |= self.derived[name].keys
            for target in targets:
                self.record_store(target, stmt, locks, checks, value_reads, augmented=augmented)
            # locals read from shared state (the check of a later `if`)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and len(targets) == 1 \
                    and isinstance(targets[0], ast.Name) and targets[0].id in self.info.locals:
                name = targets[0].id
                if value is not None:
                    binding = self.m.classify_value(value)
                    if binding.kind == "lock":
                        self.local_locks[name] = binding.async_lock
                if value_reads:
                    self.derived[name] = _Derived(frozenset(value_reads), stmt, locks)
                else:
                    self.derived.pop(name, None)
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr) and child not in targets:
                self.record_calls(child, stmt, locks, checks)
        for target in targets:
            for sub in ast.iter_child_nodes(target):
                self.record_calls(sub, stmt, locks, checks)

    def record_store(self, target: ast.AST, stmt: ast.stmt, locks: Tuple[LockRegion, ...],
                     checks: Tuple[Check, ...], value_reads: Optional[Set[SharedKey]],
                     augmented: bool = False, deleting: bool = False) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.record_store(elt, stmt, locks, checks, value_reads, augmented, deleting)
            return
        if isinstance(target, ast.Starred):
            target = target.value
        if isinstance(target, ast.Name):
            if target.id in self.info.globals_declared:
                key: SharedKey = ("g", target.id)
                detail = "del" if deleting else ("augmented assignment" if augmented else "assignment")
                self.add(Act(key, "rebind", stmt, stmt, locks, self.info, detail,
                             reads_self=augmented or bool(value_reads and key in value_reads),
                             augmented=augmented, idempotent=self._stores_once_result(stmt),
                             resets=deleting or _is_reset(stmt)), checks)
            return
        if isinstance(target, ast.Attribute):
            direct = self.key_of(target)
            if direct is not None:  # cls._instance = ...
                self.add(Act(direct, "rebind", stmt, stmt, locks, self.info,
                             "del" if deleting else "assignment",
                             reads_self=augmented or bool(value_reads and direct in value_reads),
                             augmented=augmented, resets=deleting or _is_reset(stmt)), checks)
                return
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            root, _depth = self.root_key(target, through_calls=True)
            if root is None:
                return
            key = root
            detail = "del" if deleting else ("augmented assignment" if augmented else
                                             ("item assignment" if isinstance(target, ast.Subscript) else "attribute assignment"))
            self.add(Act(key, "mutate", stmt, target, locks, self.info, detail,
                         reads_self=augmented or bool(value_reads and key in value_reads),
                         augmented=augmented), checks)

    def record_calls(self, expr: ast.AST, stmt: ast.stmt, locks: Tuple[LockRegion, ...],
                     checks: Tuple[Check, ...]) -> None:
        """Mutating method calls (`X.append(v)`, `X[k].add(v)`, `heapq.heappush(X, v)`)."""
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, _COMPREHENSIONS):
                self.record_iteration(node.generators[0].iter, stmt, locks, checks)
                if node is not expr:
                    stack.append(node.generators[0].iter)
                    continue
            elif isinstance(node, ast.Lambda) and node is not expr:
                continue
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute):
                    key, depth = self.root_key(func.value, through_calls=True)
                    if key is not None and self._mutates(key, depth, func.attr):
                        self.add(Act(key, "mutate", stmt, node, locks, self.info, f".{func.attr}()"), checks)
                    elif self.m.qualify(func) in MUTATING_FUNCTIONS and node.args:
                        key, depth = self.root_key(node.args[0], through_calls=True)
                        if key is not None and self._container_key(key):
                            self.add(Act(key, "mutate", stmt, node, locks, self.info, f"{func.attr}()"), checks)
                elif isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2:
                    cls = self.class_of(node.args[0])
                    attr = node.args[1]
                    if cls is not None and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                        self.add(Act(("c", cls, attr.value), "rebind", stmt, stmt, locks, self.info, "setattr"), checks)
                elif self.m.qualify(func) in MUTATING_FUNCTIONS and node.args:
                    key, depth = self.root_key(node.args[0], through_calls=True)
                    if key is not None and self._container_key(key):
                        self.add(Act(key, "mutate", stmt, node, locks, self.info, f"{dotted_name(func)}()"), checks)
            stack.extend(ast.iter_child_nodes(node))

    def _stores_once_result(self, stmt: ast.stmt) -> bool:
        """`x = make()` / `x = await make()` where `make` is a run-once factory."""
        value = getattr(stmt, "value", None)
        if isinstance(value, ast.Await):
            value = value.value
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and not value.args \
            and not value.keywords and self.m.is_once_factory(value.func.id)

    def record_iteration(self, iterable: ast.AST, stmt: ast.stmt, locks: Tuple[LockRegion, ...],
                         checks: Tuple[Check, ...]) -> None:
        """`for x in X`, `X.items()`/`keys()`/`values()`, `enumerate(...)`/`reversed(...)` of them.
        Copies (`list(X)`, `sorted(X)`, ...) are snapshots taken in one C call: not recorded."""
        node = iterable
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("enumerate", "reversed") \
                and node.args:
            node = node.args[0]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in ("items", "keys", "values"):
            node = node.func.value
        key = self.key_of(node) if isinstance(node, ast.Name) else None
        if key is not None and self._container_key(key):
            self.add(Act(key, "iterate", stmt, iterable, locks, self.info, "iteration"), ())

    def _container_key(self, key: SharedKey) -> bool:
        binding = self.m.binding_of(key)
        return binding is not None and binding.is_container_like

    def _mutates(self, key: SharedKey, depth: int, method: str) -> bool:
        binding = self.m.binding_of(key)
        if binding is None or not binding.is_container_like:
            return False
        if depth == 0:
            return method in MUTATORS.get(binding.type_name, ANY_MUTATOR)
        return method in ANY_MUTATOR

    def add(self, act: Act, checks: Tuple[Check, ...]) -> None:
        for check in reversed(checks):
            if act.key in check.keys:
                act.check = check
                break
        self.m.acts.append(act)


def _is_reset(stmt: ast.stmt) -> bool:
    """`x = None` / `x = False` / `x = 0`: clearing a value, not creating one."""
    value = getattr(stmt, "value", None)
    return isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Constant) \
        and value.value in (None, False, 0)


def _value_locals(value: Optional[ast.AST]) -> Iterator[str]:
    if value is None:
        return
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield node.id


def _call_target(stmt: ast.stmt, method: str) -> Optional[ast.AST]:
    """`X` for a statement `X.<method>(...)`, `v = X.<method>(...)` or `if [not] X.<method>(...):`."""
    expr: Optional[ast.AST] = None
    if isinstance(stmt, ast.Expr):
        expr = stmt.value
    elif isinstance(stmt, ast.Assign):
        expr = stmt.value
    elif isinstance(stmt, ast.If) and method == "acquire":
        expr = stmt.test.operand if isinstance(stmt.test, ast.UnaryOp) else stmt.test
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == method:
        return expr.func.value
    return None


def _acquire_target(stmt: ast.stmt) -> Optional[ast.AST]:
    return _call_target(stmt, "acquire")


def _release_target(stmt: ast.stmt) -> Optional[ast.AST]:
    return _call_target(stmt, "release")


def char_col(lines: Optional[Sequence[str]], lineno: int, byte_col: int) -> int:
    """ast gives UTF-8 byte offsets; findings use 1-based character columns."""
    if lines is None or byte_col == 0 or not (0 < lineno <= len(lines)):
        return byte_col + 1
    line = lines[lineno - 1]
    if line.isascii():
        return byte_col + 1
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace")) + 1
