"""Which awaits a fix may hold an event-loop lock across, and which it must not.

An `asyncio` lock held across an await makes every other task that needs the lock wait for
that await.  That is the point when the awaited code is part of the test-then-act itself
(it reads or writes the same state: `X = await transform(X)`); it is a bug when the await
is a slow operation the act merely uses (a network fetch whose result is stored: 20
fetches would run one after another), and it can hang the loop when the await waits for
another task's progress (`await queue.get()` while the producer needs the same lock).

Pure analysis: no edits, no LibCST (the fixers decide what to do with the answers).
"""

from __future__ import annotations

import ast
from typing import Iterator, List, Optional, Sequence

from safestate_lint.engine.analysis import Act, ModuleAnalysis
from safestate_lint.engine.callgraph import Reach
from safestate_lint.engine.syntax import dotted_name

# awaited methods that wait for another task to act (a queue filled, an event set, a lock
# released, a task finished): holding a lock the other task needs across them can hang
_PROGRESS_METHODS = frozenset({"wait", "wait_for", "join", "acquire", "put"})
_PROGRESS_CALLS = frozenset({"asyncio.wait", "asyncio.wait_for", "asyncio.gather", "asyncio.as_completed",
                             "asyncio.shield"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def own_awaits(nodes: Sequence[ast.AST]) -> List[ast.Await]:
    """The awaits these statements make themselves (not in nested functions), in source order."""
    found = [node for node in _own_nodes(nodes) if isinstance(node, ast.Await)]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _own_nodes(nodes: Sequence[ast.AST]) -> Iterator[ast.AST]:
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))


def touches_state(m: ModuleAnalysis, reach: Reach, act: Act, expr: ast.AST) -> bool:
    """Whether evaluating `expr` (in `act.func`) reads the act's state by name, or calls code
    that writes it."""
    key = act.key
    for node in ast.walk(expr):
        if key[0] == "g" and isinstance(node, ast.Name) and node.id == key[1]:
            return True
        if key[0] != "g" and isinstance(node, ast.Attribute) and node.attr == key[-1]:
            return True
    reached = reach.reached(reach.closure(reach.statements(act.func, [expr])))
    return any(other.key == key and id(other.func) in reached for other in m.acts)


def waits_for_progress(m: ModuleAnalysis, awaited: ast.Await) -> Optional[str]:
    """`queue.get()`, `event.wait()`, `lock.acquire()`, `asyncio.wait_for(...)`, a bare task or
    future: the code (as written) when the await waits for another task to act, else None."""
    value = awaited.value
    text = ast.unparse(value)
    if not isinstance(value, ast.Call):
        return text  # `await task` / `await future`: it finishes when someone else finishes it
    func = value.func
    qualified = m.qualify(func) or ""
    if qualified in _PROGRESS_CALLS:
        return text
    if isinstance(func, ast.Attribute):
        if func.attr in _PROGRESS_METHODS:
            return text
        if func.attr == "get" and not value.args and not value.keywords:  # `q.get()`: a queue's
            return text
    return None


def is_yield_point(awaited: ast.Await) -> bool:
    """`await asyncio.sleep(0)`: lets other tasks run and takes no time of its own."""
    value = awaited.value
    return isinstance(value, ast.Call) and dotted_name(value.func) in ("asyncio.sleep", "sleep") \
        and len(value.args) == 1 and isinstance(value.args[0], ast.Constant) and value.args[0].value == 0


def slow_await(m: ModuleAnalysis, reach: Reach, act: Act, stmts: Sequence[ast.AST]) -> Optional[str]:
    """Why an event-loop lock must not be held across these statements of `act.func` (None:
    it may): an await that waits for other tasks' progress, or one that is not part of the
    test-then-act (it neither reads the state nor calls code that writes it)."""
    for awaited in own_awaits(stmts):
        progress = waits_for_progress(m, awaited)
        if progress is not None:
            return (f"the lock would be held across `await {progress}` (line {awaited.lineno}), which waits for "
                    f"other tasks: a task that needs the lock to make that progress would hang the loop")
        if is_yield_point(awaited) or touches_state(m, reach, act, awaited.value):
            continue
        text = ast.unparse(awaited.value)
        return (f"the lock would be held across `await {text}` (line {awaited.lineno}), which is not part of the "
                f"test-then-act: every other task would wait for it (a slow fetch would run one task at a time)")
    for node in _own_nodes(stmts):
        if isinstance(node, (ast.AsyncFor, ast.AsyncWith)):
            return (f"the lock would be held across an 'async {'for' if isinstance(node, ast.AsyncFor) else 'with'}' "
                    f"(line {node.lineno}), which can wait for other tasks")
    return None
