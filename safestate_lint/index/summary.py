"""One module's summary for the project index: what other modules need to know about it.

It is read from the module-level pass (:class:`ModuleBindings`) the analysis builds anyway,
plus one scan of the functions that can hand an object to other threads or call another
module's function. Everything is plain JSON (cached per file by content hash):

* ``imports``: local name -> absolute name (relative imports resolved);
* ``classes``: name -> bases (absolute names), the locks it owns, why it is built for threads;
* ``globals``: module-level containers and locks, by name;
* ``shares``: objects made here that other threads reach, as ``[created, why, line]``, where
  ``created`` is the absolute name of what is called (the project decides it is a class):
  a module-level instance, one stored in a module-level registry, one handed to a thread or
  executor, one returned by a once-factory (``@lru_cache`` on a no-argument function);
* ``owns``: ``[class, created, attr, line]``: ``self.attr = C()`` (a shared owner shares it);
* ``calls``: absolute callee -> ``[[lock idents], line]`` for calls to imported functions
  (an empty list of idents: called without a lock; ``None``: used as a value);
* ``blocks``: module-level function -> ``[its own blocking call or "", [project functions it calls]]``;
* ``test``: a single-threaded test module (its calls run on one thread);
* ``defs``: the module's function and method names; ``mentions``: every ``.name`` in its text
  (what it can call on objects of other modules).
"""

from __future__ import annotations

import ast
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from safestate_lint.engine.bindings import ModuleBindings
from safestate_lint.engine.callgraph import blocking_functions, per_instance_lock
from safestate_lint.engine.classes import documented_thread_safe, held_objects
from safestate_lint.engine.facts import FunctionInfo
from safestate_lint.engine.syntax import dotted_name
from safestate_lint.index.roots import resolve_relative
from safestate_lint.index.view import SUMMARY_VERSION, Summary
# calls that run their target on another thread (or task): the object they are given is shared
_HANDOFF_FIRST = frozenset({"submit", "to_thread", "start_new_thread", "call_soon_threadsafe", "map", "apply_async"})
# words a function must contain to be scanned (besides the names it imports and the module's containers)
_HANDOFF_WORDS = ("Thread", "Timer", "submit", "to_thread", "start_new_thread", "run_in_executor",
                  "apply_async", "call_soon_threadsafe", "global")
_ATTRIBUTE = re.compile(r"\.\s*([A-Za-z_]\w*)")  # `obj.name`: a method or attribute another module may use
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"threading", "os", "sys", "typing", "collections"}


class _Scanner:
    def __init__(self, m: ModuleBindings, module: str, is_package: bool) -> None:
        self.m = m
        self.module = module
        self.is_package = is_package
        self.imports: Dict[str, str] = {}
        self.shares: List[List[Any]] = []
        self.owns: List[List[Any]] = []
        self.calls: Dict[str, List[List[Any]]] = {}

    # -- names --------------------------------------------------------------------------------
    def add_import(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    self.imports.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_relative(self.module, self.is_package, node.level, node.module)
            if base is None:
                return
            for alias in node.names:
                if alias.name != "*":
                    self.imports[alias.asname or alias.name] = f"{base}.{alias.name}"

    def absolute(self, expr: ast.AST) -> Optional[str]:
        """The absolute dotted name an expression denotes, when it is a module name or imported."""
        name = dotted_name(expr)
        return None if name is None else self.absolute_name(name)

    def absolute_name(self, name: str) -> Optional[str]:
        head, _, rest = name.partition(".")
        if head in self.imports:
            full = self.imports[head]
        elif head in self.m.classes or head in self.m.bindings:
            full = f"{self.module}.{head}"
        else:
            return None
        return f"{full}.{rest}" if rest else full

    def _project_import(self, name: str) -> bool:
        return name.split(".")[0] not in _STDLIB

    # -- what the module shares ---------------------------------------------------------------
    def module_level(self) -> None:
        m = self.m
        for stmt in m._module_statements():
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.add_import(stmt)
        script = _main_block_nodes(m.tree)
        for name, binding in m.bindings.items():
            node = binding.node
            if id(node) in script:
                continue  # `if __name__ == "__main__":` runs once, as a script: nothing it binds is shared
            value = getattr(node, "value", None)
            if isinstance(value, ast.Call) and binding.kind == "unknown" and not name.strip("_").isupper():
                created = self.absolute(value.func)
                if created is not None:
                    self.shares.append([created, f"'{name}' is bound at module level", node.lineno])  # type: ignore[union-attr]
            annotation = getattr(node, "annotation", None)
            if annotation is not None and (value is None or (isinstance(value, ast.Constant) and value.value is None)):
                inner: ast.expr = annotation.slice if isinstance(annotation, ast.Subscript) else annotation
                created = self.absolute(inner)  # `_client: Optional[Client] = None`, set later
                if created is not None:
                    self.shares.append([created, f"'{name}' is a module-level '{dotted_name(inner)}'",
                                        getattr(node, "lineno", 0)])
        for cls_name, cls in m.classes.items():
            for stmt in cls.body:  # `db = Singleton(make_db)`: providers held by a module-level class
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                    created = self.absolute(stmt.value.func)
                    if created is not None:
                        self.shares.append([created, f"'{cls_name}.{dotted_name(stmt.targets[0]) or '?'}' is a class "
                                                     "attribute", stmt.lineno])

    def functions(self) -> None:
        m = self.m
        imported = [name for name, full in self.imports.items() if self._project_import(full)]
        words = list(_HANDOFF_WORDS) + imported + [n for n, b in m.bindings.items() if b.kind == "container"]
        offsets = m._occurrences(words)
        imports = m._occurrences(["import"])
        for info in m.functions:
            if not m._node_contains(offsets, info.node):  # import-time code registers objects too
                continue
            info.ensure_scope()
            _FunctionScan(self, info).run(m._node_contains(imports, info.node))


class _FunctionScan:
    """One function: calls to imported functions with the locks held, objects handed on."""

    def __init__(self, scanner: _Scanner, info: FunctionInfo) -> None:
        from safestate_lint.engine.walker import FunctionWalker

        self.s = scanner
        self.info = info
        self.walker = FunctionWalker(scanner.m, info)
        self.made: Dict[str, str] = {}  # local -> the absolute name of what made it (`p = Pool()`)

    def run(self, imports: bool) -> None:
        if imports:  # `from .registry import POOLS` inside the function
            for node in ast.walk(self.info.node):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    self.s.add_import(node)
        self.block(self.info.node.body, ())

    def block(self, body: Sequence[ast.stmt], held: Tuple[str, ...]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # walked as functions of their own
            if isinstance(stmt, (ast.With, ast.AsyncWith)):
                inner = held
                for item in stmt.items:
                    self.expr(item.context_expr, held, stmt)
                    region = self.walker.lock_of(item.context_expr)
                    if region is not None and not region.async_lock and not per_instance_lock(self.s.m, region):
                        inner = inner + (region.ident or region.name,)
                self.block(stmt.body, inner)
                continue
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                self.store(stmt.targets, stmt.value, stmt)
            for field, value in ast.iter_fields(stmt):
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    self.block(value, held)
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.ExceptHandler):
                            self.block(item.body, held)
                        elif isinstance(item, ast.AST) and type(item).__name__ == "match_case":
                            self.block(item.body, held)  # type: ignore[attr-defined]
                        elif isinstance(item, ast.expr):
                            self.expr(item, held, stmt)
                elif isinstance(value, ast.expr):
                    self.expr(value, held, stmt)

    def store(self, targets: List[ast.expr], value: ast.Call, stmt: ast.stmt) -> None:
        created = self.s.absolute(value.func)
        if created is None:
            return
        info = self.info
        for target in targets:
            if isinstance(target, ast.Name):
                if target.id in info.globals_declared:
                    self.s.shares.append([created, f"the global '{target.id}' is set in '{info.qualname}()'",
                                          stmt.lineno])
                else:
                    self.made[target.id] = created
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == info.self_param and info.class_name is not None:
                self.s.owns.append([info.class_name, created, target.attr, stmt.lineno])
            elif isinstance(target, ast.Subscript):
                self.registry(target.value, created, stmt)

    def registry(self, container: ast.expr, created: str, stmt: ast.stmt) -> None:
        """`REGISTRY[k] = C()` / `REGISTRY.append(C())`: a module-level container holds it."""
        m, info = self.s.m, self.info
        if isinstance(container, ast.Name) and container.id not in info.locals:
            binding = m.bindings.get(container.id)
            full = self.s.imports.get(container.id)
            if (binding is not None and binding.kind == "container") or full is not None:
                where = container.id if full is None else f"{container.id}' ('{full}"
                self.s.shares.append([created, f"it is stored in the module-level '{where}'", stmt.lineno])
        elif isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name) \
                and container.value.id == info.self_param and info.class_name is not None:
            self.s.owns.append([info.class_name, created, container.attr, stmt.lineno])

    def expr(self, expr: ast.expr, held: Tuple[str, ...], stmt: ast.stmt) -> None:
        stack: List[ast.AST] = [expr]
        calls_func = set()
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Call):
                calls_func.add(id(node.func))
                self.call(node, held, stmt)
            elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load) \
                    and id(node) not in calls_func:
                self.value_use(node, stmt)
                if isinstance(node, ast.Attribute):
                    stack.append(node.value)
                continue
            stack.extend(ast.iter_child_nodes(node))

    def value_use(self, node: ast.AST, stmt: ast.stmt) -> None:
        """An imported function passed on as a value: its callers are not known."""
        if isinstance(node, ast.Name) and node.id in self.info.locals:
            return
        full = self.s.absolute(node)
        if full is not None and self.s._project_import(full) and dotted_name(node) != full:
            self.s.calls.setdefault(full, []).append([None, stmt.lineno])

    def call(self, call: ast.Call, held: Tuple[str, ...], stmt: ast.stmt) -> None:
        func = call.func
        if not (isinstance(func, ast.Name) and func.id in self.info.locals):
            full = self.s.absolute(func)
            if full is not None and self.s._project_import(full):
                self.s.calls.setdefault(full, []).append([sorted(set(held)), call.lineno])
        last = (dotted_name(func) or "").rsplit(".", 1)[-1]
        if isinstance(func, ast.Attribute) and func.attr in ("append", "add", "setdefault", "insert") and call.args:
            value = call.args[-1]
            if isinstance(value, ast.Call):
                created = self.s.absolute(value.func)
                if created is not None:
                    self.registry(func.value, created, stmt)
        targets: List[ast.expr] = []
        if last in ("Thread", "Timer", "Process"):
            if last == "Process":
                return  # another process: nothing is shared
            targets = [k.value for k in call.keywords if k.arg in ("target", "function", "args", "kwargs")]
            targets += call.args[1:2]
        elif last in _HANDOFF_FIRST:
            targets = list(call.args)
        elif last == "run_in_executor":
            targets = list(call.args[1:])
        for target in targets:
            for part in ast.walk(target):
                obj = part.value if isinstance(part, ast.Attribute) else part
                created = None
                if isinstance(obj, ast.Name) and obj.id in self.made:
                    created = self.made[obj.id]
                elif isinstance(obj, ast.Call):
                    created = self.s.absolute(obj.func)
                if created is not None:
                    self.s.shares.append([created, f"it is handed to '{dotted_name(func)}()' in "
                                                   f"'{self.info.qualname}()'", call.lineno])


def _main_block_nodes(tree: ast.Module) -> Set[int]:
    """The ids of every node under a top-level `if __name__ == "__main__":`."""
    found: Set[int] = set()
    for stmt in tree.body:
        if not isinstance(stmt, ast.If):
            continue
        test = stmt.test
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__" \
                and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant) \
                and test.comparators[0].value == "__main__":
            found.update(id(node) for inner in stmt.body for node in ast.walk(inner))
    return found


def _once_factories(scanner: _Scanner) -> None:
    """`@lru_cache` on a no-argument function that returns `C(...)`: one C for every thread."""
    m = scanner.m
    for name, binding in m.bindings.items():
        if binding.kind != "function" or not m.is_once_factory(name):
            continue
        for node in ast.walk(binding.node):  # type: ignore[arg-type]
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
                created = scanner.absolute(node.value.func)
                if created is not None:
                    scanner.shares.append([created, f"'{name}()' returns one instance to every caller", node.lineno])


def _blocks(scanner: _Scanner) -> Dict[str, Any]:
    """Module-level functions that block or call one that may: `{name: [blocking call or "",
    [absolute names of the project functions they call]]}`; the project closes it over modules."""
    found: Dict[str, Any] = {}
    for name, (direct, called) in blocking_functions(scanner.m).items():
        callees = sorted({full for written in called if (full := scanner.absolute_name(written)) is not None
                          and scanner._project_import(full) and full != f"{scanner.module}.{name}"})
        if direct or callees:
            found[name] = [direct, callees]
    return found


def summarise(m: ModuleBindings, module: str, is_package: bool, single_threaded: bool) -> Summary:
    scanner = _Scanner(m, module, is_package)
    scanner.module_level()
    scanner.functions()
    _once_factories(scanner)
    classes: Dict[str, Any] = {}
    for name in m.classes:
        m.instance_lock(name, "")  # found on first use: the same facts whether or not m was walked
    for name, cls in m.classes.items():
        locks = {attr: [binding.lock_type, binding.async_lock] for (owner, attr), binding in m.class_attrs.items()
                 if owner == name and binding.kind == "lock"}
        thread = m.thread_classes.get(name)
        bases = [scanner.absolute(base) or "" for base in cls.bases]
        attrs = {attr: [binding.kind, binding.type_name] for (owner, attr), binding in m.instance_attrs.items()
                 if owner == name and binding.kind not in ("lock", "function")}
        holds = [[attr, made, line] for attr, func, line in held_objects(cls)
                 if (made := scanner.absolute(func)) is not None]
        containers = {attr: binding.type_name for (owner, attr), binding in m.class_attrs.items()
                      if owner == name and binding.kind == "container"}
        classes[name] = {"bases": bases, "locks": locks, "attrs": attrs, "line": cls.lineno, "holds": holds,
                         "containers": containers, "doc": documented_thread_safe(cls),
                         "thread": [thread.why, thread.entry, thread.part] if thread is not None else None}
    globals_: Dict[str, Any] = {}
    for name, binding in m.bindings.items():
        if binding.kind == "container":
            globals_[name] = ["container", binding.type_name, getattr(binding.node, "lineno", 0)]
        elif binding.kind == "lock":
            globals_[name] = ["lock", binding.lock_type, getattr(binding.node, "lineno", 0)]
    text = "".join(m.lines) if m.lines is not None else ""
    defs = sorted({info.name for info in m.functions if not info.parents and not info.name.startswith("__")})
    return {"v": SUMMARY_VERSION, "module": module, "package": is_package, "test": single_threaded,
            "defs": defs, "mentions": sorted(set(_ATTRIBUTE.findall(text))),
            "imports": scanner.imports, "classes": classes, "globals": globals_, "shares": scanner.shares,
            "owns": scanner.owns, "calls": scanner.calls, "blocks": _blocks(scanner)}
