"""The edits a fix plans, and applying them: one LibCST transformation per pass.

`Edits` is the plan (keyed by the identity of original LibCST nodes); `Apply` carries it out,
zipping original and updated statement lists block by block; `LockDecl` is a lock the fix
creates, whose kind is decided once every statement of the pass is planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

import libcst as cst

Block = Union[cst.Module, cst.IndentedBlock]


class LockDecl:
    """A lock the fix creates; it becomes an `RLock` when any statement it guards calls code
    that could take it again (decided once every statement of the pass is planned).  An
    event-loop lock is the runtime's `LoopLock()`: an `asyncio.Lock()` made at import time
    would belong to the first loop that waits on it (on 3.9, to the loop current when made)."""

    def __init__(self, name: str, event_loop: bool = False, owner: str = "") -> None:
        self.name = name
        self.owner = owner  # the class whose attribute it is ("" for a module-level lock)
        self.reentrant = False
        self.event_loop = event_loop  # a `LoopLock()`, entered with `async with` (or `async with L[key]`)

    def __str__(self) -> str:
        if self.event_loop:
            return f"{self.name} = LoopLock()"
        return f"{self.name} = threading.{'RLock' if self.reentrant else 'Lock'}()"


@dataclass
class Edits:
    """Edits keyed by the identity of original LibCST nodes."""

    wrap: Dict[int, Tuple[cst.CSTNode, str]] = field(default_factory=dict)  # first stmt -> (last stmt, lock)
    double_check: Dict[int, str] = field(default_factory=dict)  # If -> lock
    # guarding If -> (lock, last statement): the guard repeated under the lock, through `last`
    early_return: Dict[int, Tuple[str, cst.CSTNode]] = field(default_factory=dict)
    recheck: Dict[int, cst.BaseExpression] = field(default_factory=dict)  # With -> test to repeat inside
    recheck_if: Dict[int, cst.If] = field(default_factory=dict)  # With -> guarding If copied in front
    to_thread_lock: Dict[int, str] = field(default_factory=dict)  # async With -> threading lock
    to_async_lock: Set[int] = field(default_factory=set)  # With on a thread lock -> `async with`
    async_locks: Set[str] = field(default_factory=set)  # locks the wraps enter with `async with`
    replace_expr: Dict[int, str] = field(default_factory=dict)
    descend: Set[int] = field(default_factory=set)  # nodes on the way to a replaced expression
    insert_after: Dict[int, List[Union[str, LockDecl]]] = field(default_factory=dict)
    insert_before: Dict[int, List[str]] = field(default_factory=dict)
    hoisted: Dict[int, List[str]] = field(default_factory=dict)  # statement -> statements run just before it
    body_start: Dict[int, List[Union[str, LockDecl]]] = field(default_factory=dict)  # ClassDef -> statements
    # statement -> (shared name as written: `X`, or (`cls`, `attr`) owners and attribute, local to use)
    rename: Dict[int, Tuple[Tuple[str, ...], str, str]] = field(default_factory=dict)
    delete: Set[int] = field(default_factory=set)  # block-level statements removed
    # first block-level statement -> (last statement of the same block, the one statement replacing them)
    replace: Dict[int, Tuple[cst.CSTNode, str]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not any(vars(self).values())


def _statement(code: str, newline_module: cst.Module) -> cst.BaseStatement:
    return cst.parse_statement(code, config=newline_module.config_for_parsing)


class Apply(cst.CSTTransformer):
    """Applies an `Edits` plan; block edits zip original and updated statement lists."""

    def __init__(self, edits: Edits) -> None:
        super().__init__()
        self.e = edits
        self.module: Optional[cst.Module] = None
        self._made: Set[int] = set()
        self._keep: List[cst.With] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        # statements and blocks lead to every edit; expressions only when one is replaced
        if isinstance(node, cst.Module):
            self.module = node
        if id(node) in self.e.descend:
            return True
        if isinstance(node, cst.BaseExpression):
            return id(node) in self.e.replace_expr
        return isinstance(node, (cst.Module, cst.BaseStatement, cst.BaseSmallStatement, cst.BaseSuite, cst.Else, cst.Annotation, cst.WithItem,
                                 cst.ExceptHandler, cst.Finally, getattr(cst, "ExceptStarHandler", cst.Else),
                                 getattr(cst, "MatchCase", cst.Else)))

    def _stmt(self, code: str) -> cst.BaseStatement:
        assert self.module is not None
        return _statement(code, self.module)

    def _lock_item(self, lock: str) -> cst.WithItem:
        return cst.WithItem(item=cst.parse_expression(lock))

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode):  # type: ignore[no-untyped-def]
        e = self.e
        key = id(original)
        if key in e.replace_expr:
            return cst.parse_expression(e.replace_expr[key])
        if isinstance(updated, cst.If) and key in e.double_check:
            inner = cst.If(test=cst.ensure_type(original, cst.If).test.deep_clone(), body=updated.body)
            lock = e.double_check[key]
            guarded = cst.With(items=[self._lock_item(lock)], body=cst.IndentedBlock(body=[inner]),
                               asynchronous=cst.Asynchronous() if lock in e.async_locks else None)
            updated = updated.with_changes(body=cst.IndentedBlock(body=[guarded]))
        if isinstance(updated, cst.With):
            if key in e.to_thread_lock:
                updated = updated.with_changes(asynchronous=None, items=[self._lock_item(e.to_thread_lock[key])])
            if key in e.to_async_lock:
                updated = updated.with_changes(asynchronous=cst.Asynchronous())
            if key in e.recheck:
                inner_if = cst.If(test=e.recheck[key].deep_clone(), body=updated.body)
                updated = updated.with_changes(body=cst.IndentedBlock(body=[inner_if]))
            if key in e.recheck_if:
                guard = e.recheck_if[key].deep_clone().with_changes(leading_lines=())
                body = cst.ensure_type(updated.body, cst.IndentedBlock)
                updated = updated.with_changes(body=body.with_changes(body=[guard, *body.body]))
        if isinstance(updated, cst.ClassDef) and key in e.body_start:
            body = cst.ensure_type(updated.body, cst.IndentedBlock)
            items = list(body.body)
            at = 1 if items and _is_docstring(items[0]) else 0
            added = [self._stmt(str(code)) for code in e.body_start[key]]
            following = at
            items[at:at] = added
            after = following + len(added)
            if after < len(items) and isinstance(items[after], cst.BaseCompoundStatement) \
                    and not items[after].leading_lines:  # type: ignore[attr-defined]
                items[after] = items[after].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
            updated = updated.with_changes(body=body.with_changes(body=items))
        if key in e.rename:
            owners, name, local = e.rename[key]
            renamed = updated.visit(_Rename(owners, name, local))
            assert isinstance(renamed, cst.CSTNode)  # a statement is never removed by renaming
            updated = renamed
        if isinstance(updated, (cst.Module, cst.IndentedBlock)):
            updated = self._edit_block(original, updated)  # type: ignore[arg-type]
        return updated

    def _edit_block(self, original: Block, updated: Block) -> Block:
        e = self.e
        old, new = list(original.body), list(updated.body)
        result: List[cst.BaseStatement] = []
        if isinstance(original, cst.Module) and id(original) in e.body_start:
            at = after_imports(new)
            declared: List[cst.BaseStatement] = [self._stmt(str(code)) for code in e.body_start[id(original)]]
            if at and declared and not getattr(declared[0], "leading_lines", True):  # a blank line after the imports
                declared[0] = declared[0].with_changes(leading_lines=[cst.EmptyLine(indent=False)])  # type: ignore[attr-defined]
            new[at:at] = declared
            old[at:at] = [None] * len(e.body_start[id(original)])  # type: ignore[list-item]
        i = 0
        while i < len(new):
            orig, stmt = old[i], new[i]
            key = id(orig) if orig is not None else 0
            if key in e.delete:
                i += 1
                continue
            for code in e.hoisted.get(key, []):  # `v = await f()` before `X += v`: it takes the comments
                result.append(self._stmt(code).with_changes(leading_lines=getattr(stmt, "leading_lines", ())))
                stmt = stmt.with_changes(leading_lines=())  # type: ignore[attr-defined]
            for code in e.insert_before.get(key, []):
                # a new definition takes the blank lines and comments that preceded its anchor
                result.append(self._stmt(code).with_changes(leading_lines=getattr(stmt, "leading_lines", ())))
                stmt = stmt.with_changes(leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(indent=False)])  # type: ignore[attr-defined]
            if key in e.wrap:
                last, lock = e.wrap[key]
                j = next(k for k in range(i, len(old)) if old[k] is last)
                inner = self._with_inserts(old[i:j], new[i:j]) + [new[j]]
                self._append(result, self._wrapped(inner, lock))
                for added in e.insert_after.get(id(last), []):
                    result.append(self._stmt(str(added)))
                i = j + 1
                continue
            if key in e.replace:  # the statements from here through `last` become one (its comments lead it)
                last, code = e.replace[key]
                j = next(k for k in range(i, len(old)) if old[k] is last)
                made = self._stmt(code)
                leading = [*getattr(stmt, "leading_lines", ()), *getattr(made, "leading_lines", ())]
                result.append(made.with_changes(leading_lines=leading))
                for added in e.insert_after.get(id(last), []):
                    result.append(self._stmt(str(added)))
                i = j + 1
                continue
            if key in e.early_return:
                lock, last = e.early_return[key]
                guard = cst.ensure_type(stmt, cst.If)
                copy = guard.deep_clone().with_changes(leading_lines=())
                result.append(stmt)
                j = next(k for k in range(i + 1, len(old)) if old[k] is last)
                rest = self._with_inserts(old[i + 1:j + 1], new[i + 1:j + 1])
                result.append(self._wrapped([copy, *rest], lock, move_comments=False))
                i = j + 1
                continue
            result.append(stmt)
            for added in e.insert_after.get(key, []):
                result.append(self._stmt(str(added)))
            i += 1
        return updated.with_changes(body=result)

    def _with_inserts(self, old: List[cst.BaseStatement], new: List[cst.BaseStatement]) -> List[cst.BaseStatement]:
        """`new` with the statements planned after each of them (inside a range being wrapped)."""
        out: List[cst.BaseStatement] = []
        for orig, stmt in zip(old, new):
            out.append(stmt)
            out.extend(self._stmt(str(added)) for added in self.e.insert_after.get(id(orig), []))
        return out

    def _append(self, result: List[cst.BaseStatement], stmt: cst.BaseStatement) -> None:
        """Append; a `with L:` the fix made right after another `with L:` joins it (one block)."""
        previous = result[-1] if result else None
        if isinstance(stmt, cst.With) and isinstance(previous, cst.With) and id(stmt) in self._made \
                and id(previous) in self._made and len(stmt.items) == len(previous.items) == 1 \
                and previous.items[0].item.deep_equals(stmt.items[0].item) and not stmt.leading_lines:
            body = cst.ensure_type(previous.body, cst.IndentedBlock)
            extra = cst.ensure_type(stmt.body, cst.IndentedBlock).body
            merged = previous.with_changes(body=body.with_changes(body=[*body.body, *extra]))
            self._made.add(id(merged))
            self._keep.append(merged)
            result[-1] = merged
            return
        result.append(stmt)

    def _wrapped(self, stmts: List[cst.BaseStatement], lock: str, move_comments: bool = True) -> cst.With:
        first = stmts[0]
        leading = getattr(first, "leading_lines", ()) if move_comments else ()
        if leading:
            stmts = [first.with_changes(leading_lines=()), *stmts[1:]]  # type: ignore[attr-defined]
        made = cst.With(items=[self._lock_item(lock)], body=cst.IndentedBlock(body=stmts), leading_lines=leading,
                        asynchronous=cst.Asynchronous() if lock in self.e.async_locks else None)
        self._made.add(id(made))  # made by this fix: may join an adjacent one
        self._keep.append(made)  # (kept alive, so its id is never reused)
        return made


class _Rename(cst.CSTTransformer):
    """`X` (or `owner.X` for one of `owners`) -> `local`, outside nested functions and classes."""

    def __init__(self, owners: Tuple[str, ...], name: str, local: str) -> None:
        super().__init__()
        self.owners, self.name, self.local = owners, name, local

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return updated.with_changes(value=self.local) if not self.owners and updated.value == self.name else updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if self.owners and updated.attr.value == self.name and isinstance(updated.value, cst.Name) \
                and updated.value.value in self.owners:
            return cst.Name(self.local)
        return updated.with_changes(attr=original.attr)  # `obj.X` is not the name X

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)  # `f(X=...)` neither


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def is_relative_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(s, cst.ImportFrom) and bool(s.relative) for s in stmt.body)


def after_imports(body: List[cst.BaseStatement]) -> int:
    """Index after the module docstring and the leading imports."""
    at = 0
    if body and _is_docstring(body[0]):
        at = 1
    while at < len(body):
        stmt = body[at]
        if isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            at += 1
        else:
            break
    return at

