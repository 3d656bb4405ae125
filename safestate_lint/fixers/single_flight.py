"""Single flight for a module dict filled on a miss (SST103): `d.get_or_create(k, lambda: build)`.

DESCRIPTION:
* A private module-level dict (or a runtime `LockedDict`) used as a cache, whose value is built
  by calling code, in one of these exact shapes:
  - test-then-set: `if k not in _c: _c[k] = build(k)` (or `v = build(k); _c[k] = v` with `v`
    used nowhere else), optionally followed by `return _c[k]` / `x = _c[k]`;
  - memo: `if k in _c: return _c[k]`, then `_c[k] = build(k); return _c[k]` (or through a
    local: `v = build(k); _c[k] = v; return v`, `v = _c[k] = build(k); return v`);
  - EAFP: `try: return _c[k]` (or `x = _c[k]`) / `except KeyError:` storing and returning
    (or binding) the built value, the same statements as above.
  The container becomes the runtime's `LockedDict` (the same replacement SST102 makes, under the
  same conditions), and the statements one `return _c.get_or_create(k, lambda: build(k))`
  (`x = ...`, or a bare call). The build runs once per key with no lock held: callers of the
  same key wait for it, other keys never wait, a failed build stores nothing.
* Holding one lock across the build would serialise every miss of every key (and hold it
  across whatever the build calls); this fix never holds a lock across it.
* Anything else is left to the other fixes, and when they refuse, the reason says why single
  flight did not apply: a key computed by a call (it would be evaluated once instead of twice),
  statements between the test and the store (get_or_create runs one expression), a build that
  awaits, yields or binds names (`:=`), zero-argument `super()`/`locals()` (a lambda changes
  what they see), an `async def` (the wait would block its event loop), a test or store under a
  lock, or a function that runs while a lock the build needs is held (waiting there could
  deadlock).
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from safestate_lint.engine.analysis import Act
from safestate_lint.engine.syntax import ast_block_of, inside
from safestate_lint.fixers.base import FixContext, Unfixable

KEY_ERRORS = frozenset({"KeyError", "LookupError"})
# zero-argument calls that see the frame they run in: a lambda is another frame
FRAME_CALLS = frozenset({"super", "locals", "vars", "dir", "eval", "exec"})


class NoFlight(Exception):
    """A dict filled on a miss that single flight does not rewrite; the message says why."""


@dataclass(frozen=True)
class CacheFill:
    """A module dict filled on a miss: the statements to replace and what replaces them."""

    act: Act
    name: str  # the module-level dict
    key: ast.expr
    build: ast.expr  # the value built on a miss
    span: Tuple[ast.stmt, ...]  # consecutive statements of one block, replaced by one
    form: str  # "return" | "assign" | "call": the replacing statement
    target: str = ""  # for "assign": the name bound


def cache_fill(ctx: FixContext, act: Act) -> Optional[CacheFill]:
    """The single-flight rewrite of `act` (an SST103 store into a module dict); None when `act`
    is not a dict filled on a miss at all; NoFlight(reason) when it is one this fix refuses."""
    check = act.check
    if act.key[0] != "g" or check is None or not isinstance(act.stmt, ast.Assign) or len(act.key) != 2:
        return None
    name = act.key[1]
    binding = ctx.m.bindings.get(name)
    if binding is None or binding.type_name != "dict" or binding.kind not in ("container", "locked") or \
            not any(_is_item(target, name) for target in act.stmt.targets):
        return None
    if check.origin is not check.site:
        raise NoFlight(f"the test reads the cache through a local (`v = {name}.get(k)`): a stored None or falsy "
                       f"value would be built again, which get_or_create would not do")
    site = check.site
    if isinstance(site, ast.If):
        fill = _test_then_set(act, site, name)
    elif isinstance(site, ast.Try):
        fill = _eafp(act, site, name)
    else:
        return None
    if not any(isinstance(node, ast.Call) for node in ast.walk(fill.build)):
        return None  # a value that calls no code: one lock across the test and the store is cheap
    _check_flight(ctx, fill)
    return fill


def plan(ctx: FixContext, fill: CacheFill) -> None:
    """Replace the statements by one `get_or_create` statement, keeping their comments."""
    source = "".join(ctx.m.lines or ())
    # LibCST indents the continuation lines of the new statement by its block's indentation: they
    # keep only what they had beyond the build's first line (none inside a multi-line string)
    strings = any(isinstance(n, (ast.Constant, ast.JoinedStr)) and n.lineno != n.end_lineno for n in ast.walk(fill.build))
    shift = 0 if strings else _indent(ctx.m.lines, fill.build.lineno)
    key, build = _segment(source, fill.key, 0), _segment(source, fill.build, shift)
    call = f"{fill.name}.get_or_create({_argument(key, '')}, {_argument(build, 'lambda: ')})"
    statement = {"return": f"return {call}", "assign": f"{fill.target} = {call}", "call": call}[fill.form]
    comments = _comments(source, fill.span, fill.build)
    first, last = ctx.statement(fill.span[0]), ctx.statement(fill.span[-1])
    ctx.claim(ctx.same_block_range(first, last))
    ctx.edits.replace[id(first)] = (last, "".join(f"{c}\n" for c in comments) + statement + "\n")


# -- the shapes ------------------------------------------------------------------------------------


def _test_then_set(act: Act, site: ast.If, name: str) -> CacheFill:
    test = site.test
    if site.orelse:
        raise NoFlight("the test has an else branch")
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.In, ast.NotIn))
            and _is_name(test.comparators[0], name)):
        raise NoFlight(f"the test is not `k in {name}` / `k not in {name}`")
    key = test.left
    if isinstance(test.ops[0], ast.In) and inside(act.stmt, site):
        raise NoFlight(f"the store is made when the key is already in {name}")
    _check_key(key)
    block = ast_block_of(act.func.node, site)
    if block is None:
        raise NoFlight("the test is not found in its function")
    after = block[block.index(site) + 1:]
    if isinstance(test.ops[0], ast.NotIn):  # if k not in c: c[k] = build
        build, local = _fill_body(act, site.body, name, key, returns=False)
        nxt = after[0] if after else None
        if nxt is not None and isinstance(nxt, ast.Return) and nxt.value is not None and _is_item(nxt.value, name, key):
            return CacheFill(act, name, key, build, (site, nxt), "return")
        if nxt is not None and isinstance(nxt, ast.Assign) and len(nxt.targets) == 1 \
                and isinstance(nxt.targets[0], ast.Name) and _is_item(nxt.value, name, key):
            return CacheFill(act, name, key, build, (site, nxt), "assign", nxt.targets[0].id)
        return CacheFill(act, name, key, build, (site,), "call")
    # memo: if k in c: return c[k]; then the store and the return
    if len(site.body) != 1 or not (isinstance(site.body[0], ast.Return) and site.body[0].value is not None
                                   and _is_item(site.body[0].value, name, key)):
        raise NoFlight(f"the hit does more than `return {name}[k]`")
    end = next((i for i, stmt in enumerate(after) if isinstance(stmt, ast.Return)), None)
    if end is None:
        raise NoFlight("the miss does not end in a return in the test's block")
    build, _ = _fill_body(act, after[:end + 1], name, key, returns=True)
    return CacheFill(act, name, key, build, (site, *after[:end + 1]), "return")


def _eafp(act: Act, site: ast.Try, name: str) -> CacheFill:
    if len(site.handlers) != 1 or site.orelse or site.finalbody:
        raise NoFlight("the try has other handlers, an else or a finally")
    handler = site.handlers[0]
    caught = handler.type
    if not (isinstance(caught, ast.Name) and caught.id in KEY_ERRORS):
        raise NoFlight("the handler catches more than KeyError")
    if handler.name is not None and any(isinstance(n, ast.Name) and n.id == handler.name
                                        for stmt in handler.body for n in ast.walk(stmt)):
        raise NoFlight(f"the handler uses the exception '{handler.name}'")
    if len(site.body) != 1:
        raise NoFlight(f"the try does more than look up {name}[k]")
    lookup = site.body[0]
    if isinstance(lookup, ast.Return) and lookup.value is not None and isinstance(lookup.value, ast.Subscript) \
            and _is_name(lookup.value.value, name):
        key = lookup.value.slice
        _check_key(key)
        build, _ = _fill_body(act, handler.body, name, key, returns=True)
        return CacheFill(act, name, key, build, (site,), "return")
    if isinstance(lookup, ast.Assign) and len(lookup.targets) == 1 and isinstance(lookup.targets[0], ast.Name) \
            and isinstance(lookup.value, ast.Subscript) and _is_name(lookup.value.value, name):
        key, target = lookup.value.slice, lookup.targets[0].id
        _check_key(key)
        build = _binding_body(act, handler.body, name, key, target)
        return CacheFill(act, name, key, build, (site,), "assign", target)
    raise NoFlight(f"the try does more than `return {name}[k]` or `x = {name}[k]`")


def _fill_body(act: Act, body: Sequence[ast.stmt], name: str, key: ast.expr, returns: bool) -> Tuple[ast.expr, str]:
    """(build, local) of `c[k] = build` / `v = build; c[k] = v` / `v = c[k] = build`, followed
    by `return c[k]` / `return v` when `returns`; NoFlight for anything else."""
    stores = list(body[:-1]) if returns else list(body)
    if returns:
        final = body[-1] if body else None
        if not isinstance(final, ast.Return) or final.value is None:
            raise NoFlight("the miss does not end by returning the value")
    if not stores or not all(isinstance(stmt, ast.Assign) for stmt in stores):
        raise NoFlight("statements besides building and storing the value run between the test and the store "
                       "(get_or_create runs one expression)")
    if act.stmt is not stores[-1]:
        raise NoFlight("the store is not the last statement before the value is used")
    local = ""
    if len(stores) == 1:
        store = stores[0]
        assert isinstance(store, ast.Assign)
        items = [t for t in store.targets if _is_item(t, name, key)]
        names = [t for t in store.targets if isinstance(t, ast.Name)]
        if len(items) != 1 or len(items) + len(names) != len(store.targets) or len(names) > 1:
            raise NoFlight(f"the store is not `{name}[k] = ...` with the tested key")
        build = store.value
        local = names[0].id if names else ""
    elif len(stores) == 2:
        made, store = stores
        assert isinstance(made, ast.Assign) and isinstance(store, ast.Assign)
        if not (len(made.targets) == 1 and isinstance(made.targets[0], ast.Name) and len(store.targets) == 1
                and _is_item(store.targets[0], name, key) and _is_name(store.value, made.targets[0].id)):
            raise NoFlight(f"the statements before the store are more than `v = build(...)`; `{name}[k] = v`")
        build, local = made.value, made.targets[0].id
    else:
        raise NoFlight("statements besides building and storing the value run between the test and the store "
                       "(get_or_create runs one expression)")
    if returns:
        value = body[-1].value  # type: ignore[attr-defined]
        if not (_is_item(value, name, key) or (local and _is_name(value, local))):
            raise NoFlight("the miss returns something other than the stored value")
    if local and _uses(act, local) != (2 if len(stores) == 2 else 1) + (1 if returns and _is_name(body[-1].value, local) else 0):  # type: ignore[attr-defined]
        raise NoFlight(f"'{local}' is used outside the miss: after get_or_create it would not be bound")
    return build, local


def _binding_body(act: Act, body: Sequence[ast.stmt], name: str, key: ast.expr, target: str) -> ast.expr:
    """The build of an EAFP handler that binds `target`: `x = build; c[k] = x`, `x = c[k] = build`,
    or `c[k] = build; x = c[k]`."""
    if not all(isinstance(stmt, ast.Assign) for stmt in body) or not 1 <= len(body) <= 2:
        raise NoFlight("statements besides building and storing the value run in the handler "
                       "(get_or_create runs one expression)")
    if act.stmt not in body:
        raise NoFlight("the store is not in the handler")
    stmts: List[ast.Assign] = [s for s in body if isinstance(s, ast.Assign)]
    if len(stmts) == 1:
        targets = stmts[0].targets
        if len(targets) == 2 and any(_is_name(t, target) for t in targets) and any(_is_item(t, name, key) for t in targets):
            return stmts[0].value
    else:
        first, second = stmts
        if len(first.targets) == len(second.targets) == 1:
            if _is_name(first.targets[0], target) and _is_item(second.targets[0], name, key) \
                    and _is_name(second.value, target):
                return first.value
            if _is_item(first.targets[0], name, key) and _is_name(second.targets[0], target) \
                    and _is_item(second.value, name, key):
                return first.value
    raise NoFlight(f"the handler does more than build '{target}' and store it in {name}[k]")


# -- conditions -----------------------------------------------------------------------------------


def _check_key(key: ast.expr) -> None:
    if not _plain_key(key):
        raise NoFlight("the key is computed by an expression that get_or_create would evaluate once instead of at "
                       "every lookup: bind it to a local first")


def _plain_key(key: ast.expr) -> bool:
    if isinstance(key, (ast.Name, ast.Constant)):
        return True
    return isinstance(key, ast.Tuple) and all(_plain_key(e) for e in key.elts)


def _check_flight(ctx: FixContext, fill: CacheFill) -> None:
    """The rewrite keeps the program's meaning and never makes it wait where it could hang."""
    act, build = fill.act, fill.build
    check = act.check
    assert check is not None
    func = act.func
    if func.is_async:
        raise NoFlight(f"'{func.qualname}()' is a coroutine: waiting for another thread's build would block its "
                       f"event loop")
    if act.locks or check.locks:
        raise NoFlight("the test or the store is made under a lock")
    for node in ast.walk(build):
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)):
            raise NoFlight("the build awaits or yields: a lambda cannot")
        if isinstance(node, ast.NamedExpr):
            raise NoFlight("the build binds a name (`:=`), which a lambda would keep to itself")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FRAME_CALLS \
                and (not node.args or node.func.id in ("eval", "exec")):
            raise NoFlight(f"the build calls {node.func.id}(), which sees a lambda's frame instead of "
                           f"'{func.qualname}()'s")
    binding = ctx.m.bindings.get(fill.name)
    if binding is not None and binding.kind == "locked" and \
            any(other.key == act.key and other.kind == "rebind" for other in ctx.m.acts):
        raise NoFlight(f"'{fill.name}' is rebound in a function (maybe to a plain dict)")
    _check_waits(ctx, fill)


def _check_waits(ctx: FixContext, fill: CacheFill) -> None:
    """A caller of `f()` that holds a lock waits for another thread's build holding it: a
    deadlock when that build needs the same lock (or calls what the analysis cannot follow)."""
    func = fill.act.func
    summary = ctx.reach.closure(ctx.reach.statements(func, list(fill.span)))
    idents = {region.ident or region.name for info in ctx.m.functions for region in info.held}
    idents |= {ident for info in ctx.m.functions if not info.import_time for ident in ctx.reach.direct(info).taken}
    for ident in sorted(idents):
        under, _ = ctx.reach.under(ident)
        if id(func) not in under and not any((r.ident or r.name) == ident for r in func.held):
            continue
        if ident in summary.locks or summary.unknown or summary.callbacks:
            raise NoFlight(f"'{func.qualname}()' runs while '{ident}' is held, and the build may need it: a caller "
                           f"waiting there for another thread's build could deadlock")


# -- helpers ------------------------------------------------------------------------------------


def _is_name(node: Optional[ast.AST], name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_item(node: Optional[ast.AST], name: str, key: Optional[ast.expr] = None) -> bool:
    """`name[key]` (any key when `key` is None)."""
    return isinstance(node, ast.Subscript) and _is_name(node.value, name) and \
        (key is None or ast.dump(node.slice) == ast.dump(key))


def _uses(act: Act, local: str) -> int:
    return sum(1 for node in ast.walk(act.func.node) if isinstance(node, ast.Name) and node.id == local)


def _segment(source: str, node: ast.expr, shift: int) -> str:
    """The expression's source; its continuation lines moved `shift` columns left."""
    text = ast.get_source_segment(source, node)
    if text is None:
        raise Unfixable("source not available")
    lines = text.splitlines(keepends=True)
    if shift > 0 and all(not line.strip() or line[:shift].isspace() for line in lines[1:]):
        lines[1:] = [line[shift:] if line.strip() else line for line in lines[1:]]
    return "".join(lines)


def _indent(lines: Optional[Sequence[str]], lineno: int) -> int:
    line = lines[lineno - 1] if lines and 0 < lineno <= len(lines) else ""
    return len(line) - len(line.lstrip(" \t"))


def _argument(text: str, prefix: str) -> str:
    """`prefix + text` as one argument of a call: parenthesised when it would be several (`a, b`)."""
    try:
        call = ast.parse(f"f({prefix}{text}\n, 0)", mode="eval").body
    except SyntaxError:
        call = None
    if isinstance(call, ast.Call) and len(call.args) == 2 and not call.keywords:
        return prefix + text
    return f"{prefix}({text})"


def _comments(source: str, span: Sequence[ast.stmt], build: ast.expr) -> List[str]:
    """The comments written inside the replaced statements (not the build's own, which it keeps)."""
    first, last = span[0], span[-1]
    start, end = first.lineno, last.end_lineno or last.lineno
    inside = ((build.lineno, build.col_offset), (build.end_lineno or build.lineno, build.end_col_offset or 0))
    found: List[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.start[0] > end:
                break
            if token.type == tokenize.COMMENT and start <= token.start[0] and \
                    not (inside[0] <= (token.start[0], token.start[1]) < inside[1]):
                found.append(token.string)
    except (tokenize.TokenError, SyntaxError) as exc:
        raise Unfixable(f"cannot read the comments: {exc}") from exc
    return found
