"""Fixer for family SST1 (module-level shared state): SST101, SST102, SST103.

DESCRIPTION:
* SST102: replace the container with the runtime's locked container (`{}` ->
  `LockedDict()`, `[...]` -> `LockedList([...])`, `set()` -> `LockedSet()`) when every use in
  the module stays valid; when the module observes the container's exact type or identity
  (`type(x)`, `x.__class__`, `id(x)`, `x is y`) that replacement is unsafe and needs
  `--unsafe-fixes`; otherwise (or for defaultdict, Counter, ...) the mutating statements are
  wrapped in a module lock.
* SST101: wrap the statement in `with <lock>:`; for "tested and then rebound", the test and
  the rebinding together.
* SST104: the same container replacement (a runtime container's iteration walks a
  snapshot); otherwise no automatic fix: a loop body may take the same lock again.
* SST103: hold one lock across the test and the act (the container's own `lock` for a
  runtime container); when the act is already under a lock taken after the test, repeat the
  test inside that lock instead (wrapping would take the same lock twice).
The attributes of an instance every thread shares are locked with the class's own lock
(`self._lock`) when it has one, else with one class-level `_lock`; their containers are
never replaced. Never holds a threading lock across an `await`; on one event loop
(`assume-single-event-loop`) the await moves out of the update, or the slow build becomes a
single flight per key (fixers/event_loop.py), else the finding is left with the reason.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from safestate_lint.engine.analysis import Act, ModuleAnalysis, dotted_name
from safestate_lint.engine.facts import ESCAPED_VIEW
from safestate_lint.finding import Finding
from safestate_lint.engine.shapes import (
    StaleRead, check_then_act_span, index_holding, nested_writes, reimport_after_delete, uses_of,
)
from safestate_lint.engine.syntax import ast_block_of, inside
from safestate_lint.fixers.base import FixContext, Unfixable, plan_each, plan_recheck
from safestate_lint.fixers.event_loop import fix_across_await
from safestate_lint.fixers.single_flight import CacheFill, NoFlight, cache_fill, plan as plan_flight

CODES = ("SST101", "SST102", "SST103", "SST104", "SST105")
LONE_MUTATIONS = ("SST102", "SST105")  # a container mutated without a lock (not atomic, or the policy)
REPLACEABLE = (*LONE_MUTATIONS, "SST104")  # findings a runtime container removes
LOCKED = {"dict": "LockedDict", "list": "LockedList", "set": "LockedSet"}


def plan(ctx: FixContext, items: List[Tuple[Finding, Act]]) -> Set[Finding]:
    """Plan fixes; return the findings this pass fixes."""
    replaced: Dict[str, bool] = {}
    kept: Dict[str, str] = {}  # containers not replaced -> why
    # globals, and the shared instance's attributes (an object's iterated attribute: only the reason)
    items = [(f, a) for f, a in items if a.key[0] in ("g", "i") or (f.code == "SST104" and a.key[0] == "o")]
    for guard in ctx.m.guards() if items else ():
        if guard.key[0] == "g" and guard.module_lock is not None:  # `# guarded-by: _lock`: the lock to use
            ctx.use_lock(guard.key, guard.module_lock)
            replaced[guard.key[1]] = False
            kept[guard.key[1]] = f"it is declared guarded by '{guard.module_lock}'"
    flights: Dict[int, CacheFill] = {}  # SST103 acts rewritten to `get_or_create` (single flight)
    no_flight: Dict[int, str] = {}  # dicts filled on a miss that single flight leaves -> why
    for finding, act in items:  # first decide which containers become runtime containers
        name = act.key[1]
        if _imported_from(ctx, act):
            continue
        if finding.code == "SST103" and act.key[0] == "g" and not ctx.event_loop_key(act.key):
            _plan_flight(ctx, act, replaced, kept, flights, no_flight)
        if act.key[0] == "g" and finding.code in REPLACEABLE and name not in replaced \
                and not ctx.event_loop_key(act.key):
            try:
                _replace_container(ctx, name)
                replaced[name] = True
                ctx.use_lock(("g", name), f"{name}.lock")
            except Unfixable as why:
                replaced[name] = False
                kept[name] = str(why)

    def fix_one(finding: Finding, act: Act) -> bool:
        origin = _imported_from(ctx, act)
        if origin:
            raise Unfixable(f"'{act.key[1]}' is '{origin}', bound in another module: a lock made here would not "
                            f"cover that module's own uses; guard it with a lock that module defines")
        if ctx.event_loop_key(act.key) and fix_across_await(ctx, act):
            return True  # the await moved out of the read-modify-write, or a single flight per key
        if finding.code in LONE_MUTATIONS and act.inner is not None:
            # containers held inside the shared one: a locked outer container does not lock them;
            # every such write of the function goes under the one lock (adjacent ones merge)
            writes = {id(a.stmt): a for a in nested_writes(ctx.m, act)}
            for write in writes.values():
                wrap_statements(ctx, write, [write.stmt])
            return True
        if finding.code == "SST104" and act.key[0] == "g" and _iterates_snapshot(ctx, act, replaced.get(act.key[1], False)):
            return True  # `for k in X.snapshot()`: the runtime's one way to iterate while others write
        if act.key[0] == "g" and finding.code in REPLACEABLE and replaced.get(act.key[1]):
            return True  # the container becomes a runtime container
        reimport = reimport_after_delete(act) if finding.code == "SST102" else None
        if reimport is not None:  # `del sys.modules[n]` ... `import_module(n)`: both under one lock
            block = ast_block_of(act.func.node, act.stmt)
            end = index_holding(block, reimport, block.index(act.stmt)) if block is not None else None
            if block is None or end is None:
                raise Unfixable("the import that follows the delete is not in the delete's block")
            wrap_statements(ctx, act, [act.stmt, block[end]])
        elif finding.code in LONE_MUTATIONS:
            wrap_statements(ctx, act, [_read_just_before(act), act.stmt])
        elif finding.code == "SST101":
            stale = next((s for s in ctx.m.stale_reads() if s.act is act and s.reads[0].lineno == finding.line), None)
            check = act.check
            if stale is not None:
                _capture_inside(ctx, stale)
            elif act.read_at is not None:  # `v = X` ... `X = v + 1`: from the read through the write
                if act.locks:
                    raise Unfixable("the value is read before the lock that rebinds it is taken")
                span = check_then_act_span(act, act.read_at)
                if span is None:
                    raise Unfixable("the read and the write are in different blocks")
                wrap_statements(ctx, act, [span[0], span[-1]])
            elif act.locks and check is not None:
                plan_recheck(ctx, act)  # tested outside the lock that rebinds
            elif check is not None and act.key in check.keys:
                _wrap_span(ctx, act)  # the test and the act under one lock, early exits included
            else:
                wrap_statements(ctx, act, [_read_just_before(act), act.stmt])
        elif finding.code == "SST103" and id(act) in flights:
            plan_flight(ctx, flights[id(act)])
        elif finding.code == "SST103":
            try:
                _fix_check_then_act(ctx, act)
            except Unfixable as refused:
                if id(act) in no_flight:
                    raise Unfixable(f"{refused}; single flight (get_or_create) does not apply: "
                                    f"{no_flight[id(act)]}") from refused
                raise
        elif act.detail == ESCAPED_VIEW:
            name = ctx.m.describe(act.key)
            raise Unfixable(f"return a copy made under the lock (list({name}...)); a copy is not a live view, "
                            f"so the callers decide")
        elif act.key[0] in ("o", "i") and _iterate_a_copy(ctx, act):
            return True
        else:  # SST104 without a replacement: a loop is not wrapped in a lock automatically
            name = ctx.m.describe(act.key)
            why = kept.get(act.key[1], "it cannot be replaced") if act.key[0] == "g" else "it is an attribute"
            raise Unfixable(f"a loop is not put under a lock automatically (its body may take it again), and "
                            f"'{name}' stays a plain container: {why}; iterate over a copy (list({name})) under the lock")
        return True

    return plan_each(ctx, items, fix_one)


def _plan_flight(ctx: FixContext, act: Act, replaced: Dict[str, bool], kept: Dict[str, str],
                 flights: Dict[int, CacheFill], no_flight: Dict[int, str]) -> None:
    """A module dict filled on a miss by calling code: single flight when the shape is exact and
    the dict is (or can become) a `LockedDict`; otherwise the reason, for when no other fix applies."""
    name = act.key[1]
    try:
        fill = cache_fill(ctx, act)
    except NoFlight as why:
        no_flight[id(act)] = str(why)
        return
    if fill is None:
        return
    binding = ctx.m.bindings.get(name)
    if binding is not None and binding.kind == "locked":
        flights[id(act)] = fill
        return
    if name not in replaced:
        try:
            _replace_container(ctx, name)
            replaced[name] = True
            ctx.use_lock(("g", name), f"{name}.lock")
        except Unfixable as why:
            replaced[name] = False
            kept[name] = str(why)
    if replaced[name]:
        flights[id(act)] = fill
    else:
        no_flight[id(act)] = f"'{name}' stays a plain dict: {kept.get(name, 'it cannot be replaced')}"


def _imported_from(ctx: FixContext, act: Act) -> str:
    """The absolute name of another module's container that `act`'s global is imported as."""
    binding = ctx.m.bindings.get(act.key[1]) if act.key[0] == "g" else None
    return binding.origin if binding is not None else ""


def wrap_statements(ctx: FixContext, act: Act, span: List[ast.stmt], lock: Optional[str] = None) -> None:
    """`with <lock>:` around the statements from span[0] to span[-1] (one block); the lock is
    `lock` when given (one the code already uses), else the one `ctx.lock_for` provides."""
    first, last = ctx.statement(span[0]), ctx.statement(span[-1])
    statements = ctx.same_block_range(first, last)
    block = ast_block_of(act.func.node, span[0])
    if block is None:
        raise Unfixable("statement not found in its function")
    start, end = block.index(span[0]), block.index(span[-1])
    if lock is None and act.key[0] == "i":
        lock = _own_lock(ctx, act)
    lock = ctx.lock_for(act, block[start:end + 1], existing=lock)
    ctx.claim(statements)
    ctx.edits.wrap[id(first)] = (last, lock)


def _iterates_snapshot(ctx: FixContext, act: Act, replaced: bool) -> bool:
    """A runtime dict (already, or by this fix) iterated: rewrite the loop over `X.snapshot()`
    (`X.items()` -> `X.snapshot().items()`). Lists and sets iterate a snapshot by themselves."""
    binding = ctx.m.binding_of(act.key)
    if binding is None or binding.type_name != "dict" or not (replaced or binding.kind == "locked"):
        return False
    ctx.replace_iterable(act.stmt, act.node, _snapshot_code(act.node, act.key[1]))  # type: ignore[arg-type]
    return True


def _iterate_a_copy(ctx: FixContext, act: Act) -> bool:
    """`for e in self._items:` -> `for e in list(self._items):` for an object's list, set or dict
    (`.items()`, `.keys()`, `.values()` too): one C call copies it, atomically on both builds,
    and the writers' lone operations are atomic. Not for a loop that changes the container it
    walks (a worklist: the copy would change what it visits) or one that can stop early (a
    copy of the whole container for the first item); those stay with the reason."""
    binding = ctx.m.binding_of(act.key)
    if binding is None or binding.type_name not in ("list", "set", "dict"):
        return False
    loop = act.stmt
    if not isinstance(loop, (ast.For, ast.AsyncFor)) or loop.iter is not act.node or loop.orelse:
        return False
    if any(a.key == act.key and a.kind == "mutate" and a.func is act.func and inside(a.stmt, loop) for a in ctx.m.acts):
        raise Unfixable("the loop changes the container it walks: a copy would change what it visits")
    if _leaves_loop(loop.body):
        raise Unfixable("the loop can stop at the first item: copying the whole container each time is not "
                        "the fix; hold the lock around the search instead")
    source = ast.get_source_segment("".join(ctx.m.lines or ()), act.node)
    if source is None:
        return False
    ctx.replace_iterable(loop, act.node, f"list({source})")  # type: ignore[arg-type]
    return True


def _leaves_loop(body: List[ast.stmt]) -> bool:
    """A `break` or `return` of this loop (not of a loop or function nested in it)."""
    stack: List[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Break, ast.Return)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.For, ast.AsyncFor, ast.While)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _snapshot_code(iterable: ast.expr, name: str) -> str:
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.args:  # enumerate(X)
        rest = [ast.unparse(a) for a in iterable.args[1:]] + [ast.unparse(k) for k in iterable.keywords]
        return f"{iterable.func.id}({', '.join([_snapshot_code(iterable.args[0], name), *rest])})"
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):  # X.items()
        return f"{name}.snapshot().{iterable.func.attr}()"
    return f"{name}.snapshot()"


def _own_lock(ctx: FixContext, act: Act) -> Optional[str]:
    """`self._lock` when the shared instance's class already owns a threading lock and the act
    is in one of its methods (None: a class-level lock is added)."""
    cls, self_name = act.key[1], act.func.self_param
    if not self_name or act.func.class_name != cls:
        return None
    owned = sorted(attr for (owner, attr), b in ctx.m.class_attrs.items()
                   if owner == cls and b.kind == "lock" and not b.async_lock and b.is_mutex)
    return f"{self_name}.{owned[0]}" if owned else None


def _read_just_before(act: Act) -> ast.stmt:
    """`data["n"] = stats["n"]` right before `stats["n"] = 0`: the read and the reset go under one
    lock (an update between them would be lost); otherwise the write alone."""
    block = ast_block_of(act.func.node, act.stmt)
    if block is None or act.reads_self or act.check is not None:
        return act.stmt
    i = block.index(act.stmt)
    if i > 0 and isinstance(block[i - 1], (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) \
            and any(isinstance(getattr(use, "ctx", None), ast.Load) for use in uses_of(act, block[i - 1])):
        return block[i - 1]
    return act.stmt


def _wrap_span(ctx: FixContext, act: Act) -> None:
    span = check_then_act_span(act)
    if span is None:
        raise Unfixable("the test and the act are in different blocks")
    wrap_statements(ctx, act, [span[0], span[-1]])


def _fix_check_then_act(ctx: FixContext, act: Act) -> None:
    check = act.check
    assert check is not None
    if any(r.node is not None and isinstance(r.node, (ast.With, ast.AsyncWith)) and ctx.m.thread_capable(r)
           and not inside(check.site, r.node) for r in act.locks):
        plan_recheck(ctx, act)  # the act holds a lock taken after the test: test again inside it
        return
    if check.locks:
        raise Unfixable("the test is made under a lock that is released before the act")
    site = check.site
    if check.origin is site and isinstance(site, ast.If) and not site.orelse and inside(act.stmt, site) \
            and ctx.reach.statements(act.func, site.body).blocking == [] \
            and ctx.reach.closure(ctx.reach.statements(act.func, site.body)).blocking:
        # `if k not in d: d[k] = slow(k)`: double-checked, so the lock is taken only on a miss and
        # the slow creation never holds it against the hits
        node = ctx.statement(site)
        lock = ctx.lock_for(act, site.body, once=True)
        ctx.claim([node])
        ctx.edits.double_check[id(node)] = lock
        return
    _wrap_span(ctx, act)


def _capture_inside(ctx: FixContext, stale: StaleRead) -> None:
    """`with L: n += 1` then `return n` -> `with L: n += 1; value = n` then `return value`."""
    act, region = stale.act, stale.region
    last = region.body[-1]
    if isinstance(last, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
        raise Unfixable("the lock's block ends the function")
    after = stale.block[stale.block.index(region) + 1:]
    readers = [stmt for stmt in after if any(inside(read, stmt) for read in stale.reads)]
    others = [stmt for stmt in readers if sum(1 for n in ast.walk(stmt) if isinstance(n, ast.Name)
                                                and n.id == act.key[1]) != sum(1 for r in stale.reads if inside(r, stmt))]
    if others:
        raise Unfixable("a later read is made under the lock again")
    local = ctx.local_name(act.func, act.key[1])
    ctx.claim([ctx.statement(region), *(ctx.statement(stmt) for stmt in readers)])
    ctx.edits.insert_after.setdefault(id(ctx.statement(last)), []).append(f"{local} = {act.key[1]}")
    ctx.rename(act, readers, local)


# -- container replacement ------------------------------------------------------------------


def _replace_container(ctx: FixContext, name: str) -> None:
    """Plan `X = {}` -> `X = LockedDict()`, or raise Unfixable saying why it stays."""
    m = ctx.m
    if m.config.runtime_module == "none":
        raise Unfixable("runtime-module is 'none' (standard library only)")
    binding = m.bindings.get(name)
    if binding is None or binding.type_name not in LOCKED or m.binding_counts.get(name) != 1:
        raise Unfixable("it is not a dict, list or set bound once")
    node = binding.node
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None or \
            (isinstance(node, ast.Assign) and (len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name))):
        raise Unfixable("its binding is not a plain assignment")
    if any(act.key == ("g", name) and act.kind == "rebind" for act in m.acts):
        raise Unfixable("it is rebound in a function")
    guard = ctx.existing_guard(("g", name))
    if guard is not None:  # its own lock would be a second one: every writer takes the one it has
        raise Unfixable(f"it already has a lock, '{guard}'")
    new_value = _locked_value(ctx, node.value, binding.type_name)
    if new_value is None:
        raise Unfixable("its initial value cannot be rewritten")
    if not ctx.unsafe_fixes:
        if _identity_observed(m, name):
            raise Unfixable("the module tests its type or identity (needs --unsafe-fixes)")
        noticed = observed_by_consumers(ctx, name, binding.type_name)
        if noticed is not None:
            raise Unfixable(f"{noticed} (needs --unsafe-fixes)")
    assign = ctx.small_statement(node)
    expr = getattr(assign, "value", None)
    if not isinstance(expr, _cst_class(node.value)):
        raise Unfixable("its initial value cannot be located")
    ctx.claim([ctx.statement(node)])
    ctx.edits.replace_expr[id(expr)] = new_value
    ctx.imports.add((m.config.runtime_module, LOCKED[binding.type_name]))
    if isinstance(node, ast.AnnAssign) and isinstance(assign, cst.AnnAssign):
        _retype(ctx, node.annotation, assign.annotation.annotation, LOCKED[binding.type_name])


_PLAIN_TYPES = {"dict": ("dict", "typing.Dict", "Dict"), "list": ("list", "typing.List", "List"),
                "set": ("set", "typing.Set", "Set")}


def _retype(ctx: FixContext, annotation: ast.expr, node: cst.BaseExpression, cls: str) -> None:
    """`Dict[str, Any]` -> `LockedDict[str, Any]` (and `dict` -> `LockedDict`), so a type
    checker that accepted the module still does. Other annotations (`Mapping[...]`) fit already."""
    base = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    plain = {name for names in _PLAIN_TYPES.values() for name in names}
    if (dotted := dotted_name(base)) is None or (dotted not in plain and ctx.m.qualify(base) not in plain):
        return
    if isinstance(annotation, ast.Subscript):
        inner = ast.get_source_segment("".join(ctx.m.lines or ()), annotation.slice)
        if inner is None:
            return
        ctx.edits.replace_expr[id(node)] = f"{cls}[{inner}]"
    else:
        ctx.edits.replace_expr[id(node)] = cls


def _cst_class(value: ast.AST) -> type:
    """The LibCST node class of an ast container value."""
    return {ast.Dict: cst.Dict, ast.List: cst.List, ast.Set: cst.Set, ast.DictComp: cst.DictComp,
            ast.ListComp: cst.ListComp, ast.SetComp: cst.SetComp}.get(type(value), cst.Call)


def _locked_value(ctx: FixContext, value: ast.AST, type_name: str) -> Optional[str]:
    cls = LOCKED[type_name]
    source = ast.get_source_segment("".join(ctx.m.lines or ()), value)
    if source is None:
        return None
    if isinstance(value, ast.Call):
        if ctx.m.qualify(value.func) != type_name:
            return None
        inner = source[source.index("(") + 1:source.rindex(")")]
        return f"{cls}({inner})"
    empty = (isinstance(value, ast.Dict) and not value.keys) or (isinstance(value, (ast.List,)) and not value.elts)
    if empty:
        return f"{cls}()"
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return f"{cls}({source})"
    return None


# Calls that only read a container's elements, taking their own copy: no consumer sees its type.
_READERS = frozenset({"len", "bool", "list", "tuple", "sorted", "set", "frozenset", "sum", "min", "max", "any",
                      "all", "enumerate", "reversed", "iter", "next", "str.join"})
_VIEWS = frozenset({"keys", "values", "items"})  # live on a dict, snapshots on a LockedDict


def observed_by_consumers(ctx: FixContext, name: str, type_name: str) -> Optional[str]:
    """Why replacing module container `name` by a locked container could be noticed (None:
    it cannot). Replacement is invisible only when the container never leaves the module's
    own statements: every use is an item access, a method call, a membership test, a
    truth test, iteration (not of a list the loop grows), or an argument of a builtin that
    copies its elements. Anything else (returned, passed on, stored elsewhere, formatted,
    `repr`'d, a view kept, `heapq`/`bisect` on it) can tell, and a public name can be
    imported by modules the fix does not see."""
    m = ctx.m
    if not name.startswith("_"):  # `__all__` does not stop `from mod import name`
        return f"'{name}' is public: other modules can see that its type changed"
    binding = m.bindings.get(name)
    for node, parent in m.uses_of_global(name):
        if binding is not None and parent is binding.node and isinstance(node.ctx, ast.Store):
            continue  # the binding being replaced
        if isinstance(parent, ast.Subscript) and parent.value is node:
            continue
        if isinstance(parent, ast.Compare) and (parent.left is not node or all(
                isinstance(op, (ast.Eq, ast.NotEq)) for op in parent.ops)) and not any(
                isinstance(op, (ast.Is, ast.IsNot)) for op in parent.ops):
            continue
        if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and parent.test is node:
            continue
        if isinstance(parent, (ast.UnaryOp, ast.BoolOp)) and not isinstance(m.parent_of(parent), (ast.Return, ast.Assign)):
            continue
        if isinstance(parent, (ast.Global, ast.Nonlocal)):
            continue
        if isinstance(parent, ast.Attribute) and parent.value is node:
            call = m.parent_of(parent)
            if not isinstance(call, ast.Call) or call.func is not parent or parent.attr in ("copy", "__class__"):
                return f"'{name}.{parent.attr}' is used as a value"
            if parent.attr in _VIEWS and type_name == "dict" and not _consumed_at_once(m, call):
                return f"'{name}.{parent.attr}()' is kept: a dict's view is live, a LockedDict's is a snapshot"
            continue
        if isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is node:
            if type_name == "list" and isinstance(parent, ast.For) and any(
                    use is not node and inside(use, parent) for use, _ in m.uses_of_global(name)):
                return f"the loop over '{name}' uses it: a LockedList is iterated as a snapshot"
            continue
        if isinstance(parent, ast.Call) and node in parent.args and m.qualify(parent.func) in _READERS \
                and not (type_name == "dict" and m.qualify(parent.func) in ("dict",)):
            continue
        line = getattr(node, "lineno", 0)
        return f"'{name}' is used as a value on line {line} (passed on, returned or formatted)"
    return None


def _consumed_at_once(m: ModuleAnalysis, call: ast.Call) -> bool:
    parent = m.parent_of(call)
    if isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is call:
        return True
    if isinstance(parent, ast.Compare) and call in parent.comparators:
        return True
    return isinstance(parent, ast.Call) and call in parent.args and m.qualify(parent.func) in _READERS


def _identity_observed(m: ModuleAnalysis, name: str) -> bool:
    """`type(X)`, `X.__class__`, `id(X)` or `X is ...`: the replacement would be noticed."""
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("type", "id") \
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == name:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "__class__" and isinstance(node.value, ast.Name) \
                and node.value.id == name:
            return True
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Name) and o.id == name for o in operands):
                return True
    return False
