"""The base class of every rule: documentation, code, name, examples, and a check."""

from __future__ import annotations

import ast
import inspect
from typing import Callable, ClassVar, Iterator, List, Optional, Set, Tuple

from safestate_lint.engine.analysis import Act, Binding, ModuleAnalysis

Report = Tuple[ast.AST, str, Optional[Act]]  # where to report, the message, the fact behind it (if an act)


class Rule:
    """Subclasses set `code`, `name`, their docstring (the user documentation, in ruff's
    sections) and VALID/INVALID examples.  In an INVALID example every line that must be
    reported ends with a comment naming the rule's code (`# SST101`)."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    fixable: ClassVar[bool] = False
    VALID: ClassVar[List[str]] = []
    INVALID: ClassVar[List[str]] = []

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def documentation(cls) -> str:
        doc = inspect.cleandoc(cls.__doc__ or "")
        return f"# {cls.name} ({cls.code})\n\n{doc}\n"


def once_per(acts: List[Act], key_fn) -> Iterator[Act]:  # type: ignore[no-untyped-def]
    """Each act whose key (site, shared thing) was not yet reported."""
    seen: Set[object] = set()
    for act in acts:
        key = key_fn(act)
        if key in seen:
            continue
        seen.add(key)
        yield act


def unlocked_container_mutations(m: ModuleAnalysis, key_fn: Callable[[Act], object]) -> Iterator[Tuple[Act, Binding]]:
    """Each unlocked mutation (once per `key_fn`) of a module-level container or one the shared
    instance holds, made directly (not through a helper), with the container's binding; a
    read-modify-write of an item is SST101's and left out (SST102 and the policy SST105 ask)."""
    for act in once_per(m.acts, key_fn):
        if act.key[0] not in ("g", "i") or act.kind != "mutate" or m.is_locked(act) or act.via is not None:
            continue
        binding = m.binding_of(act.key)
        if binding is None or not binding.is_mutable_container:
            continue
        if act.reads_self and act.detail in ("augmented assignment", "item assignment"):
            continue  # a read-modify-write of an item: SST101
        yield act, binding


def lazy_inits(m: ModuleAnalysis, key_kinds: str = "") -> Iterator[Tuple[Act, str]]:
    """Each lazy initialisation that is not protected, once per test, with how
    (`ModuleAnalysis.lazy_init_status`); `key_kinds` the kinds of state wanted: "g" (module
    globals), "n" (a decorator's closure cells), "i" (the shared instance's attributes), "c"
    (class attributes); all when empty."""
    for act in once_per(m.acts, lambda a: (id(a.check.site) if a.check else 0, a.key)):
        if act.check is None or (key_kinds and act.key[0] not in key_kinds):
            continue
        status = m.lazy_init_status(act)
        if status is not None:
            yield act, status


def container_word(m: ModuleAnalysis, act: Act) -> str:
    binding = m.binding_of(act.key)
    kind = binding.type_name if binding is not None and binding.type_name else "object"
    if binding is not None and binding.kind == "locked":
        kind = {"dict": "LockedDict", "list": "LockedList", "set": "LockedSet"}.get(kind, kind)
    return kind


def shared_name(m: ModuleAnalysis, act: Act, noun: str = " instance") -> str:
    """How a message names the shared thing: `global 'n'`, or `'self.items' of the shared 'C' instance`."""
    if act.key[0] == "i":
        why = m.shared_why.get(act.key[1])  # another module shares it: say where
        return f"'self.{act.key[2]}' of the shared '{act.key[1]}'{noun}" + (f" ({why})" if why else "")
    if act.key[0] == "o":
        return f"'self.{act.key[2]}' of '{act.key[1]}'"
    if act.key[0] == "n":
        return f"closure '{act.key[2]}' of '{act.key[1]}()'"
    return f"'{act.key[1]}'"


def where(act: Act) -> str:
    """`in 'f()'`, or `in 'f()' (through 'helper()')` for a write made by a helper it calls."""
    via = f" (through '{act.via.qualname}()')" if act.via is not None else ""
    return f"in '{act.func.qualname}()'{via}"


