"""What the module's classes hold: the locks they own, the attributes their methods assign,
their module bases, and which of their methods are worth a walk (SST3).

`ClassFacts` is the part of the module-level pass (`ModuleBindings`) that reads class bodies
and methods; it finds things on first use and remembers them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from safestate_lint.config import Config
from safestate_lint.engine.facts import Binding
from safestate_lint.engine.prepass import TextIndex
from safestate_lint.engine.syntax import dotted_name, iter_scope_nodes, walk

_THREAD_SAFE = re.compile(r"thread[- ]?safe")
_NOT_THREAD_SAFE = re.compile(r"(?:\bnot|n't|\bnever|\bno longer)[\s*_`]+(?:\w+[\s*_`]+){0,3}thread[- ]?safe|thread[- ]?unsafe"
                              r"|\bnon[- ]thread[- ]?safe")
@dataclass(frozen=True)
class BuiltForThreads:
    """Why a class that owns no lock is shared between threads (SST304's inference)."""

    why: str  # as a message says it: "its docstring says it is thread-safe"
    entry: str = ""  # the method its own threads run (`C._run`, a Thread's `C.run`), when it starts them
    part: str = ""  # the one attribute the reason covers (a thread-safe object it keeps), "" for all

    def covers(self, attr: str) -> bool:
        return not self.part or attr == self.part


_LOCK_WORDS = ("Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "allocate_lock", "RWLock")


def _thread_starts(cls: ast.ClassDef) -> Iterator[Tuple[str, int]]:
    """`(C.m, line)` for each thread, timer or executor job a method starts on one of the
    class's own methods (`Thread(target=self._run)`, `executor.submit(self.work)`)."""
    for self_name, node in _method_statements(cls):
        for call in walk(node):
            if not isinstance(call, ast.Call):
                continue
            name = dotted_name(call.func) or ""
            last = name.rsplit(".", 1)[-1]
            if last in ("Thread", "Timer"):
                targets = [k.value for k in call.keywords if k.arg in ("target", "function")] + call.args[1:2]
            elif last in ("submit", "to_thread", "start_new_thread"):
                targets = call.args[:1]
            elif last == "run_in_executor":
                targets = call.args[1:2]
            else:
                continue
            for target in targets:
                method = _self_attr(target, self_name)
                if method is not None:
                    yield f"{cls.name}.{method}", call.lineno


def _statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of a function body, nested blocks included, nested definitions not
    (an assignment is a statement: no need to visit expressions)."""
    stack = list(body)
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            stack.extend(getattr(stmt, field, ()))
        for handler in getattr(stmt, "handlers", ()):
            stack.extend(handler.body)
        for case in getattr(stmt, "cases", ()):
            stack.extend(case.body)


def _method_statements(cls: Optional[ast.ClassDef]) -> Iterator[Tuple[str, ast.stmt]]:
    """(the `self` parameter's name, a statement) for every statement of every method."""
    for method in cls.body if cls is not None else ():
        if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.args.args:
            self_name = method.args.args[0].arg
            for stmt in _statements(method.body):
                yield self_name, stmt


def documented_thread_safe(cls: ast.ClassDef) -> Optional[bool]:
    """True when the class's docstring says it is thread-safe, False when it says it is not,
    None when it says neither."""
    doc = " ".join((ast.get_docstring(cls) or "").lower().split())
    if _NOT_THREAD_SAFE.search(doc):
        return False
    return True if _THREAD_SAFE.search(doc) else None


def held_objects(cls: ast.ClassDef) -> Iterator[Tuple[str, ast.expr, int]]:
    """`(x, C, line)` for each `self.x = C(...)` in a method of the class: the objects it keeps."""
    for self_name, stmt in _method_statements(cls):
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            for target in stmt.targets:
                attr = _self_attr(target, self_name)
                if attr is not None:
                    yield attr, stmt.value.func, stmt.lineno


def _self_attr(node: ast.AST, self_name: str) -> Optional[str]:
    """`self.x` -> "x"."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == self_name:
        return node.attr
    return None


def reflective_attr(node: ast.AST, self_name: str, functions: Sequence[str]) -> Optional[str]:
    """`hasattr(self, "x")` (any of `functions`) -> "x"."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions \
            and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and node.args[0].id == self_name \
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
        return node.args[1].value
    return None


class ClassFacts(TextIndex):
    """Class structure for the analysis; `ModuleBindings` fills `classes` and `class_attrs`."""

    classes: Dict[str, ast.ClassDef]
    class_attrs: Dict[Tuple[str, str], Binding]
    instance_attrs: Dict[Tuple[str, str], Binding]
    shared_classes: Set[str]
    config: Config
    _instance_attrs_done: Set[str]
    lines: Optional[Sequence[str]]

    def _init_class_facts(self) -> None:
        # classes that own a threading lock (their attributes are checked for consistent locking,
        # SST302), and every class's attributes assigned through `self` (an instance attribute
        # shadows a class attribute of the same name, SST301); the rest is found on first use
        self.lock_classes: Set[str] = set()
        # classes built for threads that own no lock, and why; their attributes are state too
        self.thread_classes: Dict[str, BuiltForThreads] = {}
        self._racy: Dict[str, Set[str]] = {}
        self._self_assigned: Dict[str, Set[str]] = {}
        self._watched: Dict[str, List[int]] = {}
        self._locked_names: Optional[Set[str]] = None
        self._subclasses: Optional[Dict[str, List[str]]] = None

    def classify_value(self, value: Optional[ast.AST], annotation: Optional[ast.AST] = None) -> Binding:
        raise NotImplementedError  # pragma: no cover - ModuleBindings classifies values

    def qualify(self, node: ast.AST) -> Optional[str]:
        raise NotImplementedError  # pragma: no cover - ModuleBindings resolves imports

    def _watched_offsets(self, class_name: str) -> List[int]:
        """Where a class's methods mention the attributes worth a walk: its class-level
        containers (SST301), and, in a class that owns a lock, the attributes some lock-owning
        class of the module touches under its lock (SST302)."""
        found = self._watched.get(class_name)
        if found is None:
            names = {attr for (owner, attr), b in self.class_attrs.items() if owner == class_name and b.kind == "container"}
            if class_name in self.lock_classes:
                names |= self._under_class_locks() | self.racy_attrs(class_name)
            shared = self.thread_classes.get(class_name)
            if shared is not None and shared.entry:  # its own thread iterates what its callers change
                names |= {attr for (owner, attr), b in self.instance_attrs.items()
                          if owner == class_name and b.kind == "container"}
            found = self._watched[class_name] = self._occurrences(sorted(names)) if names else []
        return found

    def racy_attrs(self, class_name: str) -> Set[str]:
        """Attributes of a class built for threads that a method read-modify-writes
        (`self.n += 1`) or tests and writes (`if self.x is None: self.x = ...`, `if k in
        self.d: del self.d[k]`): SST304's candidates, and the names its methods are walked for."""
        found = self._racy.get(class_name)
        if found is not None:
            return found
        found = set()
        cls = self.classes.get(class_name)
        for method in cls.body if cls is not None else ():
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not method.args.args:
                continue
            self_name = method.args.args[0].arg
            tested: Set[str] = set()
            written: Set[str] = set()
            read_into: Dict[str, Set[str]] = {}  # `pool = self.pools.get(k)`: testing `pool` tests `pools`
            nodes = list(iter_scope_nodes(method.body))
            for node in nodes:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    read = {a for sub in walk(node.value) for a in [_self_attr(sub, self_name)] if a is not None}
                    if read:
                        read_into.setdefault(node.targets[0].id, set()).update(read)
            for node in nodes:
                if isinstance(node, ast.AugAssign):
                    attr = _self_attr(node.target, self_name)
                    if attr is not None:
                        found.add(attr)
                elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
                    tested.update(a for sub in walk(node.test) for a in
                                  [_self_attr(sub, self_name) or reflective_attr(sub, self_name, ("hasattr", "getattr"))]
                                  if a is not None)
                    tested.update(a for sub in walk(node.test) if isinstance(sub, ast.Name)
                                  for a in read_into.get(sub.id, ()))
                elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Delete)):
                    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                    for target in targets:
                        while isinstance(target, ast.Subscript):
                            target = target.value
                        attr = _self_attr(target, self_name)
                        if attr is not None:
                            written.add(attr)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    attr = _self_attr(node.func.value, self_name)
                    if attr is not None:
                        written.add(attr)
                elif isinstance(node, ast.Call):
                    attr = reflective_attr(node, self_name, ("setattr", "delattr"))
                    if attr is not None:
                        written.add(attr)
            found |= tested & written
        self._racy[class_name] = found
        return found

    def _collect_thread_classes(self) -> None:
        """Classes built for threads though they own no lock: a method starts a thread, timer or
        executor job on one of the class's own methods (`Thread(target=self._run)`), the class is
        a `threading.Thread` subclass, its docstring says it is thread-safe, or its line carries
        `# safestate: shared`. They join `lock_classes`: their attributes are shared state."""
        offsets = self._occurrences(("Thread", "Timer", "submit", "to_thread", "run_in_executor",
                                     "thread-safe", "thread safe", "threadsafe", "safestate: shared", "shared"))
        if self._text is None or offsets:
            for name, cls in self.classes.items():
                # decorators sit above the class line: a class's text starts at `class`
                if name in self.lock_classes or not (self._node_contains(offsets, cls) or cls.decorator_list):
                    continue
                why = self._why_shared(cls)
                if why is not None:
                    self._built_for_threads(name, why)
        self._collect_holders()

    def _built_for_threads(self, name: str, why: BuiltForThreads) -> None:
        self.thread_classes[name] = why
        self.lock_classes.add(name)
        if name not in self.shared_classes:
            self._collect_instance_attrs(name)

    def _collect_holders(self) -> None:
        """Classes that keep, as their state, an object of a class documented thread-safe
        (`self.pools = RecentlyUsedContainer()`, "a thread-safe dict-like container"): whoever
        chose a thread-safe part expects threads to use that part, so a test-then-act on it is
        a race. Only that attribute is taken as shared (a class that keeps a thread-safe future
        says nothing of its other state); a class that says it is not thread-safe is believed."""
        documented = {name for name, cls in self.classes.items() if documented_thread_safe(cls)}
        if not documented:
            return
        for name, cls in self.classes.items():
            if name in self.lock_classes or documented_thread_safe(cls) is False:
                continue
            for attr, func, line in held_objects(cls):
                made = dotted_name(func) or ""
                if made in documented and made != name:
                    self._built_for_threads(name, BuiltForThreads(
                        f"it keeps a '{made}', documented thread-safe (self.{attr}, line {line})", part=attr))
                    break

    def _why_shared(self, cls: ast.ClassDef) -> Optional[BuiltForThreads]:
        if documented_thread_safe(cls):
            return BuiltForThreads("its docstring says it is thread-safe")
        if self.lines is not None and "safestate: shared" in self.lines[cls.lineno - 1]:
            return BuiltForThreads("it is marked '# safestate: shared'")
        for decorator in cls.decorator_list:
            qualified = self.qualify(decorator) or ""
            if qualified.rsplit(".", 1)[-1] == "shared" and (
                    qualified == "shared" or qualified.startswith(("safestate_lint.runtime", self.config.runtime_module))):
                return BuiltForThreads("it is marked '@shared'")
        if any(dotted_name(base) in ("threading.Thread", "Thread") for base in cls.bases):
            return BuiltForThreads("it is a Thread whose run() races with its callers", f"{cls.name}.run")
        for entry, line in _thread_starts(cls):
            return BuiltForThreads(f"it starts a thread on '{entry}' (line {line})", entry)
        return None

    def lock_context(self, class_name: str, method: str) -> Optional[str]:
        """The lock attribute a `@contextmanager` method of the class holds around its `yield`
        (`with self._lock: yield`, or `acquire()`, then `try: yield` / `finally: release()`):
        `with self._locked():` then holds that lock."""
        cls = self.classes.get(class_name)
        func = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == method), None) if cls else None
        if func is None or not func.args.args or not any(
                (dotted_name(d) or "").rsplit(".", 1)[-1] == "contextmanager" for d in func.decorator_list):
            return None
        self_name = func.args.args[0].arg

        def yields(stmts: List[ast.stmt]) -> bool:
            return any(isinstance(n, ast.Yield) for s in stmts for n in walk(s))

        def calls(stmts: List[ast.stmt], method: str) -> Set[str]:
            return {attr for s in stmts for n in walk(s) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr == method for attr in [_self_attr(n.func.value, self_name)] if attr is not None}

        acquired = calls([s for s in func.body if not isinstance(s, (ast.With, ast.Try))], "acquire")
        for stmt in func.body:
            if isinstance(stmt, ast.With) and len(stmt.items) == 1 and yields(stmt.body):
                return _self_attr(stmt.items[0].context_expr, self_name)
            if isinstance(stmt, ast.Try) and yields(stmt.body):  # acquire(); ...; try: yield / finally: release()
                held = acquired & calls(stmt.finalbody, "release")
                return next(iter(held)) if len(held) == 1 else None
        return None

    def thread_entries(self, class_name: str) -> Set[str]:
        """The methods (`C.m`) the class's own threads, timers and executor jobs run, whatever
        else makes it shared (a lock-owning class can start its own thread too)."""
        shared = self.thread_classes.get(class_name)
        if shared is not None:
            return {shared.entry} if shared.entry else set()
        cls = self.classes.get(class_name)
        if cls is None:
            return set()
        found = {entry for entry, _ in _thread_starts(cls)}
        if any(dotted_name(base) in ("threading.Thread", "Thread") for base in cls.bases):
            found.add(f"{cls.name}.run")
        return found

    def _under_class_locks(self) -> Set[str]:
        """`self.x` mentioned inside `with self.<its lock>:` in a method of a lock-owning class,
        or in a method called from there (transitively, by name)."""
        if self._locked_names is not None:
            return self._locked_names
        methods: Dict[str, List[ast.AST]] = {}
        queue: List[Tuple[str, ast.AST]] = []
        for class_name in self.lock_classes:
            for method in self.classes[class_name].body:
                if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not method.args.args:
                    continue
                self_name = method.args.args[0].arg
                methods.setdefault(method.name, []).append(method)
                for node in iter_scope_nodes(method.body):
                    if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                            self.lock_owner(class_name, _self_attr(item.context_expr, self_name) or "") is not None
                            for item in node.items):
                        queue.extend((self_name, inner) for inner in node.body)
                    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                            and node.func.attr == "acquire" \
                            and self.lock_owner(class_name, _self_attr(node.func.value, self_name) or "") is not None:
                        queue.append((self_name, method))  # `self._lock.acquire()`: the whole method, to be safe
        names: Set[str] = set()
        seen: Set[str] = set()
        while queue:
            self_name, root = queue.pop()
            for sub in walk(root):
                attr = _self_attr(sub, self_name)
                if attr is None:
                    continue
                names.add(attr)
                if attr in methods and attr not in seen:  # a method called under the lock
                    seen.add(attr)
                    queue.extend((m.args.args[0].arg, m) for m in methods[attr])  # type: ignore[attr-defined]
        self._locked_names = names
        return names

    def _collect_instance_attrs(self, name: str) -> None:
        """What a class's methods bind to `self.x` (the first informative value)."""
        for self_name, node in _method_statements(self.classes[name]):
            attr = reflective_attr(node.value, self_name, ("setattr",)) if isinstance(node, ast.Expr) else None
            if attr is not None:  # `setattr(self, "x", v)`
                self.instance_attrs.setdefault((name, attr), Binding(attr, "unknown"))
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

    def _collect_lock_classes(self) -> None:
        """Classes that own a threading lock: bound in the class body, or to `self.x` in a method."""
        offsets = self._occurrences(_LOCK_WORDS)
        if self._text is not None and not offsets:
            return
        for name, cls in self.classes.items():
            if name in self.lock_classes or not self._node_contains(offsets, cls):
                continue
            self.instance_lock(name, "")  # records `self.x = Lock()` bindings in class_attrs
            if any(owner == name and b.kind == "lock" and not b.async_lock for (owner, _), b in self.class_attrs.items()):
                self.lock_classes.add(name)
                if name not in self.shared_classes:
                    self._collect_instance_attrs(name)
        if self.lock_classes:  # a subclass owns its base's lock
            for name in self.classes:
                if name not in self.lock_classes and any(base in self.lock_classes for base in self.bases(name)):
                    self.lock_classes.add(name)
                    if name not in self.shared_classes:
                        self._collect_instance_attrs(name)

    def bases(self, class_name: str) -> List[str]:
        """The module's classes a class inherits from, nearest first (depth-first, no repeats)."""
        found: List[str] = []
        stack = [class_name]
        while stack and len(found) < 50:
            cls = self.classes.get(stack.pop())
            for base in reversed(cls.bases if cls is not None else []):
                name = dotted_name(base)
                if name in self.classes and name not in found and name != class_name:
                    found.append(name)
                    stack.append(name)
        return found

    def overrides(self, class_name: str, name: str) -> List[str]:
        """The module's subclasses of `class_name` that define their own method `name`: a call
        `self.name()` in `class_name` may run any of them."""
        if self._subclasses is None:
            self._subclasses = {}
            for cls in self.classes:
                for base in self.bases(cls):
                    self._subclasses.setdefault(base, []).append(cls)
        return [sub for sub in self._subclasses.get(class_name, ())
                if any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == name
                       for s in self.classes[sub].body)]

    def attr_owner(self, class_name: str, attr: str) -> str:
        """The class that introduces `self.attr`: the farthest module base whose methods assign
        it, else this class (one key for a base's attribute and every subclass's use of it)."""
        return next((base for base in reversed(self.bases(class_name)) if (base, attr) in self.instance_attrs),
                    class_name)

    def self_assigned(self, class_name: str) -> Set[str]:
        """The attributes a class's methods assign through `self` (`=`, `+=`, annotated,
        `setattr(self, ...)`): there each instance has its own value."""
        found = self._self_assigned.get(class_name)
        if found is None:
            found = self._self_assigned[class_name] = set()
            for self_name, node in _method_statements(self.classes.get(class_name)):
                targets: List[ast.AST] = []
                if isinstance(node, ast.Assign):
                    targets = list(node.targets)
                elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                    targets = [node.target]
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
                    targets = [node.target] if isinstance(node, (ast.For, ast.AsyncFor)) else \
                        [item.optional_vars for item in node.items if item.optional_vars is not None]
                elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                        and isinstance(node.value.func, ast.Name) and node.value.func.id == "setattr" \
                        and node.value.args and isinstance(node.value.args[0], ast.Name) \
                        and node.value.args[0].id == self_name:
                    found.add("*")  # any attribute: nothing is known to be shared
                for target in targets:
                    for inner in walk(target):
                        if isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) \
                                and inner.value.id == self_name and isinstance(inner.ctx, ast.Store):
                            found.add(inner.attr)
        return found

    def instance_lock(self, class_name: str, attr: str) -> Optional[Binding]:
        """A lock stored on instances (`self._lock = threading.Lock()`), found on first use."""
        if class_name not in self._instance_attrs_done:
            self._instance_attrs_done.add(class_name)
            for self_name, node in _method_statements(self.classes.get(class_name)):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.Call):
                    target = node.targets[0]
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == self_name:
                        binding = self.classify_value(node.value)
                        if binding.kind == "lock":
                            self.class_attrs.setdefault((class_name, target.attr), binding)
        return self.class_attrs.get((class_name, attr))

    def lock_owner(self, class_name: str, attr: str, depth: int = 0) -> Optional[Tuple[str, Binding]]:
        """The class (this one or a module base) that binds the lock `attr`, and the lock: a
        subclass's `self._lock` is its base's lock, one ident for both."""
        binding = self.instance_lock(class_name, attr)
        if binding is not None and binding.kind == "lock":
            return class_name, binding
        cls = self.classes.get(class_name)
        if cls is None or depth > 10:
            return None
        for base in cls.bases:
            base_name = dotted_name(base)
            if base_name in self.classes and base_name != class_name:
                found = self.lock_owner(base_name, attr, depth + 1)
                if found is not None:
                    return found
        return None
