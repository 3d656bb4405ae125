"""The per-function walk: one pass over each function body that records facts
(rebinds, mutations, iterations) with the locks held and the check each act depends on,
and the calls it makes (for the call graph)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple, Union

from safestate_lint.engine.bindings import (
    _CONSTRUCTORS, ANY_MUTATOR, ELEMENT_ACCESSORS, ITERATING_CALLS, LAZY_ITERATORS,
    MUTATING_FUNCTIONS, MUTATORS, PROCESS_STATE, ModuleBindings,
)
from safestate_lint.engine.cells import shared_cell
from safestate_lint.engine.lockref import LockResolver
from safestate_lint.engine.phases import is_precondition
from safestate_lint.engine.facts import ESCAPED_VIEW, FORK_CALLS, Act, CallSite, Check, FunctionInfo, LockRegion, SharedKey
from safestate_lint.engine.syntax import (
    COMPREHENSIONS, _acquire_target, _is_none, _is_reset, _release_target, _target_names, terminates,
    _value_locals, child_nodes, dotted_name, is_super_call, iter_scope_nodes, walk,
)


@dataclass
class _Derived:
    keys: FrozenSet[SharedKey]
    origin: ast.stmt
    locks: Tuple[LockRegion, ...]


class FunctionWalker(LockResolver):
    """Walks one function body once, recording acts with their locks and checks."""

    def __init__(self, module: ModuleBindings, info: FunctionInfo) -> None:
        self.m = module
        self.info = info
        self.derived: Dict[str, _Derived] = {}
        self.local_locks: Dict[str, bool] = {}
        self._parent_map: Optional[Dict[int, ast.AST]] = None
        self._local_made: Optional[Dict[str, bool]] = None
        self.local_aliases: Dict[str, LockRegion] = {}

    def run(self) -> None:
        self.info.walked = True
        locks: Tuple[LockRegion, ...] = ()
        if self.info.synchronized:
            decorator = next((dotted_name(d.func if isinstance(d, ast.Call) else d) for d in self.info.node.decorator_list), "")
            locks = (LockRegion(id(self.info.node), "@synchronized", False, self.info.node, f"@{decorator}", True),)
        self.block(self.info.node.body, locks, ())

    # ---- resolution -------------------------------------------------------------------------
    def key_of_name(self, name: str) -> Optional[SharedKey]:
        info = self.info
        if name in info.globals_declared:
            return ("g", name)
        if name in info.nonlocals_declared:
            return shared_cell(self.m, info, name)  # a decorator's cell every call shares
        if name in info.locals or name in info.closure:
            return None
        if self.m.imports.get(name) in PROCESS_STATE:  # `from sys import modules`
            return ("g", self.m.imports[name])
        binding = self.m.bindings.get(name)
        if binding is None or binding.kind in ("function", "class", "lock", "threadsafe"):
            return None
        return ("g", name)

    def instance_of(self, node: ast.AST) -> Optional[str]:
        """The class whose instance a name denotes: the method's `self`, or in a function nested
        in a method, the enclosing method's `self` it closes over (not rebound on the way)."""
        if not isinstance(node, ast.Name):
            return None
        info = self.info
        if info.self_param:
            return info.class_name if node.id == info.self_param else None
        if node.id in info.locals:
            return None
        for outer in reversed(info.parents):  # innermost first
            if outer.self_param and outer.class_name:
                return outer.class_name if node.id == outer.self_param else None
            if node.id in outer.locals:
                return None
        return None

    def base_method(self, name: str) -> Optional[FunctionInfo]:
        """The method `super().name()` runs in a method of a module class: the nearest module
        base that defines it."""
        if self.info.class_name is None:
            return None
        for base in self.m.bases(self.info.class_name):
            found = self.m.function_index.get((base, name))
            if found is not None:
                return found
        return None

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
            if isinstance(node.value, ast.Name) and node.value.id not in self.info.locals \
                    and self.m.qualify(node) in PROCESS_STATE:
                return ("g", self.m.qualify(node) or "")  # `sys.modules`: the process's import cache
            if isinstance(node.value, ast.Name) and node.value.id not in self.info.locals:
                dotted = f"{node.value.id}.{node.attr}"
                binding = self.m.bindings.get(dotted)
                if binding is not None and binding.origin:
                    return ("g", dotted)  # a class-level container of another module's class
            cls = self.class_of(node.value)
            if cls is not None and not node.attr.startswith("__"):
                binding = self.m.class_attrs.get((cls, node.attr))
                if binding is not None and binding.kind in ("lock", "threadsafe", "function"):
                    return None
                return ("c", cls, node.attr)
            info = self.info
            if info.self_param and isinstance(node.value, ast.Name) and node.value.id == info.self_param \
                    and info.class_name is not None and not node.attr.startswith("__"):
                return self._self_key(info.class_name, node.attr)
        return None

    def attr_key(self, target: ast.AST, attr: ast.AST) -> Optional[SharedKey]:
        """The state `hasattr`/`getattr`/`setattr`/`delattr(target, "attr")` or `"attr" in
        target.__dict__` names: a class attribute, or an attribute of a shared `self`."""
        if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)) or attr.value.startswith("__"):
            return None
        cls = self.class_of(target)
        if cls is not None:
            return ("c", cls, attr.value)
        info = self.info
        if isinstance(target, ast.Name) and info.self_param and target.id == info.self_param and info.class_name:
            return self._self_key(info.class_name, attr.value)
        return None

    def _own_dict_test(self, node: ast.AST) -> Optional[SharedKey]:
        """`"x" in cls.__dict__` / `"x" not in vars(cls)`: whether the class has its own `x`."""
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn))):
            return None
        where = node.comparators[0]
        if isinstance(where, ast.Attribute) and where.attr == "__dict__":
            return self.attr_key(where.value, node.left)
        if isinstance(where, ast.Call) and isinstance(where.func, ast.Name) and where.func.id == "vars" \
                and len(where.args) == 1:
            return self.attr_key(where.args[0], node.left)
        return None

    def _self_key(self, cls: str, attr: str) -> Optional[SharedKey]:
        """`self.attr`: a class attribute no instance shadows (`seen = []` in the class body, then
        `self.seen.append(x)`), an attribute of the shared instance, or of an object whose class
        owns a lock (outside the constructors, which no other thread sees yet)."""
        m = self.m
        class_binding = m.class_attrs.get((cls, attr))
        if class_binding is not None and class_binding.kind == "container":
            assigned = m.self_assigned(cls)
            if attr not in assigned and "*" not in assigned:
                return ("c", cls, attr)
        if self.info.name in _CONSTRUCTORS:
            return None
        kind = "i" if cls in m.shared_classes else "o" if cls in m.lock_classes else ""
        if not kind:
            return None
        if kind == "o":
            cls = m.attr_owner(cls, attr)  # one key for a base's attribute and its subclasses' uses
        binding = m.instance_attrs.get((cls, attr))
        if binding is None or binding.kind in ("lock", "threadsafe", "function"):
            return None  # methods, properties and per-call attributes are not state we track
        return (kind, cls, attr)

    def callee(self, call: ast.Call) -> Optional[FunctionInfo]:
        """The module function or method a call runs: `f()`, a nested `inner()`, `C()` (its
        `__init__`), `self.m()`, `cls.m()`, `C.m()`, or `inst.m()` on a module-level instance."""
        func = call.func
        info, m = self.info, self.m
        if isinstance(func, ast.Name):
            name = func.id
            for parent in [info] + info.parents[::-1]:
                nested = m.nested_index.get((id(parent.node), name))
                if nested is not None:
                    return nested
            if name in info.locals or name in info.closure:
                return None
            binding = m.bindings.get(name)
            if binding is None:
                return None
            if binding.kind == "function":
                return m.function_index.get((None, name))
            if binding.kind == "class":
                return m.method(name, "__init__")
            return None
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, (ast.Name, ast.Call, ast.Attribute)):
            return None
        if is_super_call(func.value):
            return self.base_method(func.attr)
        owner = self.class_of(func.value)
        if owner is None and isinstance(func.value, ast.Name):
            owner = self.instance_of(func.value)
            if owner is None and func.value.id in m.instances and func.value.id not in info.locals:
                owner = m.instances[func.value.id]
        return m.method(owner, func.attr) if owner is not None else None

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
            if isinstance(current, COMPREHENSIONS):
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
                key = self.attr_key(current.args[0], current.args[1])
                if key is not None:
                    found.add(key)
            elif isinstance(current, ast.Compare):
                key = self._own_dict_test(current)
                if key is not None:
                    found.add(key)
            for child in child_nodes(current):
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
            elif isinstance(node, ast.Compare) and self._own_dict_test(node) is not None:
                found.add(self._own_dict_test(node))  # type: ignore[arg-type]
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

    # ---- the walk -------------------------------------------------------------------------
    def block(self, body: Sequence[ast.stmt], locks: Tuple[LockRegion, ...],
              checks: Tuple[Check, ...]) -> Tuple[Check, ...]:
        """Walk a block; return the early-exit checks made in it (they guard what follows the
        block too when the block is a `with` body: `with L: if k in d: raise` then `d[k] = v`)."""
        held: Dict[str, LockRegion] = {}  # acquire() ... release() in this block
        guards: Tuple[Check, ...] = ()
        forks: Set[str] = set()  # locals bound to `os.fork()`'s result in this block
        for stmt in body:
            current = locks + tuple(held.values())
            if self.m.may_fork and isinstance(stmt, ast.Assign) and self._is_fork(stmt.value):
                forks.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            if self.m.may_fork and isinstance(stmt, ast.If) and self._in_fork_child(stmt.test, forks):
                # the child of a fork runs one thread: only the parent's branch can race
                self.block(stmt.orelse, current, checks)
                continue
            escaped = self.stmt(stmt, current, checks)
            if escaped:
                checks, guards = checks + escaped, guards + escaped
            acquired = _acquire_target(stmt)
            if acquired is not None:
                region = self.lock_of(acquired)
                if region is not None:
                    held[ast.dump(acquired)] = region.at(stmt)
            released = _release_target(stmt)
            if released is not None:
                held.pop(ast.dump(released), None)
            if isinstance(stmt, ast.If) and not stmt.orelse and terminates(stmt.body):
                # `if X is not None: return X` guards every statement after it
                found = tuple(self.checks_of(stmt, current))
                checks, guards = checks + found, guards + found
        return guards

    def _extends_in_place(self, stmt: ast.AugAssign, locks: Tuple[LockRegion, ...], checks: Tuple[Check, ...]) -> bool:
        """`X += [v]` on shared state: only a list takes a list display, and a list's `+=` extends it
        in place and stores the same object back, one atomic `extend` (engine/atomicity.py's
        ("list", "iadd")): recorded as that mutation, not as a read-modify-write."""
        if not isinstance(stmt.op, ast.Add) or not isinstance(stmt.value, (ast.List, ast.ListComp)):
            return False
        target = stmt.target
        key = self.key_of_name(target.id) if isinstance(target, ast.Name) and target.id in self.info.globals_declared \
            else self.key_of(target) if isinstance(target, ast.Attribute) else None
        if key is None:
            return False
        self.record_calls(stmt.value, stmt, locks, checks)
        self.add(Act(key, "mutate", stmt, stmt, locks, self.info, "+= (in place)"), checks)
        return True

    def _same_object(self, value: Optional[ast.AST], name: str) -> bool:
        """`name = name`, `name = cast(T, name)` (`name` dotted: `self.x = cast(T, self.x)`)."""
        if isinstance(value, ast.Call) and len(value.args) == 2 and not value.keywords \
                and self.m.qualify(value.func) in ("typing.cast", "typing_extensions.cast"):
            value = value.args[1]
        return isinstance(value, (ast.Name, ast.Attribute)) and dotted_name(value) == name

    def _is_fork(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and dotted_name(node.func) is not None \
            and self.m.qualify(node.func) in FORK_CALLS

    def _in_fork_child(self, test: ast.expr, forks: Set[str]) -> bool:
        """`os.fork() == 0`, `pid == 0` with `pid = os.fork()`, `not pid`: the child's branch."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            operand = test.operand
            return self._is_fork(operand) or (isinstance(operand, ast.Name) and operand.id in forks)
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
            left, right = test.left, test.comparators[0]
            if isinstance(left, ast.Constant):
                left, right = right, left
            return isinstance(right, ast.Constant) and right.value == 0 \
                and (self._is_fork(left) or (isinstance(left, ast.Name) and left.id in forks))
        return False

    def _lookups(self, body: Sequence[ast.stmt]) -> Set[SharedKey]:
        """Shared containers subscripted (read) in these statements."""
        found: Set[SharedKey] = set()
        for node in iter_scope_nodes(body):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = self.key_of(node.value)
                if key is not None and self._container_key(key):
                    found.add(key)
        return found

    def checks_of(self, stmt: Union[ast.If, ast.While], locks: Tuple[LockRegion, ...]) -> List[Check]:
        test = stmt.test
        keys = self.reads(test)
        lazy = self.lazy_keys(test)
        found: List[Check] = []
        if keys:
            found.append(Check(frozenset(keys), frozenset(lazy & keys), stmt, stmt, locks))
        for node in walk(test):
            if isinstance(node, ast.Name) and node.id in self.derived and node.id in self.info.locals:
                derived = self.derived[node.id]
                found.append(Check(derived.keys, frozenset(lazy & derived.keys), stmt, derived.origin, derived.locks))
        return found

    def stmt(self, stmt: ast.stmt, locks: Tuple[LockRegion, ...], checks: Tuple[Check, ...]) -> Tuple[Check, ...]:
        """Walk one statement; return the early-exit checks that guard the statements after it."""
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return ()
        if isinstance(stmt, ast.If):
            self.record_calls(stmt.test, stmt, locks, checks)
            inner = checks + tuple(self.checks_of(stmt, locks))
            self.block(stmt.body, locks, inner)
            self.block(stmt.orelse, locks, inner)
            return ()
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            inner_locks = locks
            for item in stmt.items:
                self.record_calls(item.context_expr, stmt, locks, checks)
                region = self.lock_of(item.context_expr)
                if region is not None:
                    inner_locks = inner_locks + (region.at(stmt),)
            return self.block(stmt.body, inner_locks, checks)
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            try_stmt: ast.Try = stmt  # type: ignore[assignment]
            inner_locks = locks
            for final in try_stmt.finalbody:
                released = _release_target(final)
                region = self.lock_of(released) if released is not None else None
                if region is not None:
                    inner_locks = inner_locks + (region.at(stmt),)
            self.block(try_stmt.body, inner_locks, checks)
            # `try: return X[k] except KeyError: X[k] = make()`: the lookup tests, the handler acts
            looked_up = self._lookups(try_stmt.body)
            escaped: Tuple[Check, ...] = ()
            for handler in try_stmt.handlers:
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                caught = {dotted_name(t) for t in types if t is not None}
                lookup = looked_up if caught & {"KeyError", "LookupError", "IndexError"} else set()
                guard = (Check(frozenset(lookup), frozenset(), try_stmt, try_stmt, inner_locks),) if lookup else ()
                self.block(handler.body, inner_locks, checks + guard)
                if guard and terminates(try_stmt.body) and not terminates(handler.body):
                    escaped += guard  # `try: return X[k]` / `except KeyError: pass`, then `X[k] = v`
            self.block(try_stmt.orelse, inner_locks, checks)
            self.block(try_stmt.finalbody, locks, checks)
            return escaped
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            self.record_iteration(stmt.iter, stmt, locks, checks)
            self.record_calls(stmt.iter, stmt, locks, checks)
            for name in _target_names(stmt.target):
                self.derived.pop(name, None)
            # `for k in list(X): ... del X[k]`: the snapshot said `k in X`; another thread may
            # have removed it since, as after `if k in X:`
            snapshot = self._snapshot_key(stmt.iter)
            guard = (Check(frozenset({snapshot}), frozenset(), stmt, stmt, locks),) if snapshot else ()
            self.block(stmt.body, locks, checks + guard)
            self.block(stmt.orelse, locks, checks)
            return ()
        if isinstance(stmt, ast.While):
            self.record_calls(stmt.test, stmt, locks, checks)
            # `while _pending: _pending.pop()`: the test decides the body, as an `if` does
            self.block(stmt.body, locks, checks + tuple(self.checks_of(stmt, locks)))
            self.block(stmt.orelse, locks, checks)
            return ()
        if type(stmt).__name__ == "Match":
            self.record_calls(stmt.subject, stmt, locks, checks)  # type: ignore[attr-defined]
            for case in stmt.cases:  # type: ignore[attr-defined]
                self.block(case.body, locks, checks)
            return ()
        self.simple(stmt, locks, checks)
        return ()

    def simple(self, stmt: ast.stmt, locks: Tuple[LockRegion, ...], checks: Tuple[Check, ...]) -> None:
        targets: List[ast.expr] = []
        value: Optional[ast.AST] = None
        augmented = False
        if isinstance(stmt, ast.Assign):
            targets, value = list(stmt.targets), stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            targets, value = [stmt.target], stmt.value
        elif isinstance(stmt, ast.AugAssign) and self._extends_in_place(stmt, locks, checks):
            return
        elif isinstance(stmt, ast.AugAssign):
            targets, value, augmented = [stmt.target], stmt.value, True
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                self.record_store(target, stmt, locks, checks, None, deleting=True)
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            self.record_escaping_view(stmt.value, stmt)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value_reads = self.reads(value)
            for name in _value_locals(value):
                if name in self.derived:
                    value_reads |= self.derived[name].keys
            start = len(self.m.acts)
            for target in targets:
                self.record_store(target, stmt, locks, checks, value_reads, augmented=augmented)
            # `v = _n` ... `_n = v + 1`: the read happened at the local's statement
            origins = {key: self.derived[name] for name in _value_locals(value) if name in self.derived
                       for key in self.derived[name].keys}
            for act in self.m.acts[start:]:
                derived = origins.get(act.key)
                if derived is not None and act.reads_self and act.key not in self.reads(value):
                    act.read_at, act.read_locks = derived.origin, derived.locks
            # locals read from shared state (the check of a later `if`)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and len(targets) == 1 \
                    and isinstance(targets[0], ast.Name) and targets[0].id in self.info.locals:
                name = targets[0].id
                if value is not None:
                    binding = self.m.classify_value(value)
                    if binding.kind == "lock":
                        self.local_locks[name] = binding.async_lock
                    elif isinstance(value, (ast.Name, ast.Attribute)):
                        alias = self.lock_of(value)
                        if alias is not None:
                            self.local_aliases[name] = alias
                        else:
                            self.local_aliases.pop(name, None)
                if value_reads:
                    self.derived[name] = _Derived(frozenset(value_reads), stmt, locks)
                else:
                    self.derived.pop(name, None)
        for child in child_nodes(stmt):
            if isinstance(child, ast.expr) and child not in targets:
                self.record_calls(child, stmt, locks, checks)
        for target in targets:
            for sub in child_nodes(target):
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
            if target.id in self.info.globals_declared and not augmented and not deleting \
                    and self._same_object(getattr(stmt, "value", None), target.id):
                return  # `x = x`, `x = cast(T, x)`: a rebinding for the type checker, the same object
            cell = self.key_of_name(target.id) if target.id in self.info.nonlocals_declared else None
            if target.id in self.info.globals_declared or cell is not None:
                key: SharedKey = cell or ("g", target.id)
                detail = "del" if deleting else ("augmented assignment" if augmented else "assignment")
                self.add(Act(key, "rebind", stmt, stmt, locks, self.info, detail,
                             reads_self=augmented or bool(value_reads and key in value_reads),
                             augmented=augmented, idempotent=self._stores_once_result(stmt),
                             resets=deleting or _is_reset(stmt)), checks)
            return
        if isinstance(target, ast.Attribute):
            direct = self.key_of(target)
            if direct is not None and not augmented and not deleting \
                    and self._same_object(getattr(stmt, "value", None), dotted_name(target) or "<expression>"):
                return  # `self.x = cast(T, self.x)`: a rebinding for the type checker, the same object
            if direct is not None:  # cls._instance = ...
                self.add(Act(direct, "rebind", stmt, stmt, locks, self.info,
                             "del" if deleting else "assignment",
                             reads_self=augmented or bool(value_reads and direct in value_reads),
                             augmented=augmented, resets=deleting or _is_reset(stmt)), checks)
                return
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            root, depth = self.root_key(target, through_calls=True)
            if root is None:
                return
            key = root
            detail = "del" if deleting else ("augmented assignment" if augmented else
                                             ("item assignment" if isinstance(target, ast.Subscript) else "attribute assignment"))
            self.add(Act(key, "mutate", stmt, target, locks, self.info, detail,
                         reads_self=augmented or bool(value_reads and key in value_reads),
                         augmented=augmented, inner=target.value if depth >= 2 else None), checks)

    def record_calls(self, expr: ast.AST, stmt: ast.stmt, locks: Tuple[LockRegion, ...],
                     checks: Tuple[Check, ...]) -> None:
        """Mutating method calls (`X.append(v)`, `X[k].add(v)`, `heapq.heappush(X, v)`)."""
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, COMPREHENSIONS):
                self.record_iteration(node.generators[0].iter, stmt, locks, checks)
                if node is not expr:
                    stack.append(node.generators[0].iter)
                    continue
            elif isinstance(node, ast.Lambda) and node is not expr:
                continue
            if isinstance(node, ast.Call):
                func = node.func
                consumer = self.m.qualify(func)
                if consumer in ITERATING_CALLS and node.args and (len(node.args) == 1 or consumer not in ("min", "max")):
                    self.record_iteration(node.args[0], stmt, locks, checks)
                callee = self.callee(node)
                # a sync function calling a coroutine function only creates the coroutine: its
                # body runs later, on the loop that awaits it, under none of the caller's locks
                if callee is not None and (self.info.is_async or not callee.is_async):
                    self.m.calls.append(CallSite(self.info, callee, node, stmt, locks, checks))
                    for other in self._overriding(func, callee):  # `self.m()` may run a subclass's m
                        if self.info.is_async or not other.is_async:
                            self.m.calls.append(CallSite(self.info, other, node, stmt, locks, checks, dispatch=True))
                if isinstance(func, ast.Attribute):
                    key, depth = self.root_key(func.value, through_calls=True)
                    if key is not None and self._mutates(key, depth, func.attr):
                        arguments = [*node.args, *(k.value for k in node.keywords)]
                        self.add(Act(key, "mutate", stmt, node, locks, self.info, f".{func.attr}()",
                                     inner=func.value if depth >= 1 else None,
                                     reads_self=any(key in self.reads(a) for a in arguments)), checks)
                    elif self.m.qualify(func) in MUTATING_FUNCTIONS and node.args:
                        key, depth = self.root_key(node.args[0], through_calls=True)
                        if key is not None and self._container_key(key):
                            self.add(Act(key, "mutate", stmt, node, locks, self.info, f"{func.attr}()"), checks)
                elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and len(node.args) >= 2:
                    attr_key = self.attr_key(node.args[0], node.args[1])
                    if attr_key is not None:
                        self.add(Act(attr_key, "rebind", stmt, stmt, locks, self.info, func.id,
                                     resets=func.id == "delattr"), checks)
                elif self.m.qualify(func) in MUTATING_FUNCTIONS and node.args:
                    key, depth = self.root_key(node.args[0], through_calls=True)
                    if key is not None and self._container_key(key):
                        self.add(Act(key, "mutate", stmt, node, locks, self.info, f"{dotted_name(func)}()"), checks)
            stack.extend(child_nodes(node))

    def _overriding(self, func: ast.expr, callee: FunctionInfo) -> List[FunctionInfo]:
        """The module's overrides of `callee` that a `self.method()` call can dispatch to."""
        info = self.info
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and info.self_param
                and func.value.id == info.self_param and callee.class_name is not None):
            return []
        found = (self.m.function_index.get((sub, callee.name))
                 for sub in self.m.overrides(info.class_name or callee.class_name, callee.name))
        return [f for f in found if f is not None and f is not callee]

    def _stores_once_result(self, stmt: ast.stmt) -> bool:
        """`x = make()` / `x = await make()` where `make` is a run-once factory."""
        value = getattr(stmt, "value", None)
        if isinstance(value, ast.Await):
            value = value.value
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and not value.args \
            and not value.keywords and self.m.is_once_factory(value.func.id)

    def record_iteration(self, iterable: ast.AST, stmt: ast.stmt, locks: Tuple[LockRegion, ...],
                         checks: Tuple[Check, ...]) -> None:
        """`for x in X`, `X.items()`/`keys()`/`values()`, and the lazy iterators over them
        (`enumerate`, `reversed`, `zip`, `map`, `filter`, `iter`, `itertools.islice`/`chain`).
        Copies (`list(X)`, `sorted(X)`, ...) are snapshots taken in one C call: not recorded."""
        node = iterable
        if isinstance(node, ast.Call) and self.m.qualify(node.func) in LAZY_ITERATORS:
            first = LAZY_ITERATORS[self.m.qualify(node.func) or ""]
            for argument in node.args[first:]:
                self.record_iteration(argument, stmt, locks, checks)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in ("items", "keys", "values"):
            node = node.func.value
        key = self.key_of(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if key is not None and self._container_key(key):
            self.add(Act(key, "iterate", stmt, iterable, locks, self.info, "iteration"), ())

    def record_escaping_view(self, value: ast.expr, stmt: ast.stmt) -> None:
        """`return self._items.keys()` (or `.values()`, `.items()`, `iter(...)`): a live view of
        the shared container that the caller iterates later, outside any lock held here."""
        node: ast.AST = value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "iter" \
                and len(node.args) == 1:
            node = node.args[0]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in ("keys", "values", "items"):
            node = node.func.value
        else:
            return
        key = self.key_of(node) if isinstance(node, ast.Attribute) else None
        if key is not None and key[0] == "o" and self._container_key(key):
            self.add(Act(key, "iterate", stmt, value, (), self.info, ESCAPED_VIEW), ())

    def _snapshot_key(self, iterable: ast.AST) -> Optional[SharedKey]:
        """The shared container a loop iterates a copy of: `list(X)`, `tuple(X.keys())`,
        `sorted(X)`, `X.copy()`."""
        node = iterable
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "copy" \
                and not node.args:
            node = node.func.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 \
                and node.func.id in ("list", "tuple", "sorted", "set", "frozenset"):
            node = node.args[0]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                    and node.func.attr in ("items", "keys"):
                node = node.func.value
        else:
            return None
        key = self.key_of(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        return key if key is not None and self._container_key(key) else None

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
                if act.kind == "rebind" and is_precondition(check, act.stmt):
                    continue  # `if self._running: raise ...` then `self._running = True`: a contract, not a decision
                act.check = check
                break
        self.m.acts.append(act)

