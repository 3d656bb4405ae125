"""Static findings feed the explorer: turn a `safestate-lint check` finding into a replayable
failing interleaving, or say that none showed within the budget.

    from safestate_lint.explore_finding import explore_findings
    for outcome in explore_findings(["app/metrics.py"]):
        print(outcome.describe())

For each finding whose `function` (a field of `check --format json`) can be called without
arguments (a module-level function, or a class's static or class method), or with the
arguments you give (`arguments={"record": ("msg",)}`, or `{"app.py:record": ...}` for one file's), two managed threads each call it once on
a freshly loaded copy of the module, under `explore`.  Each run is compared with two calls
made one after the other (also on a fresh copy); the invariants are:

- no exception: neither call raises (when the sequential calls did not);
- lost update: the finding's `state` ends as it does after the sequential calls (a counter
  equals the number of calls; a container has as many entries);
- single creation: each class of the module is instantiated as often as in the sequential run,
  and the two calls return the same object when the sequential calls do (a factory ran once).

The module is loaded inside the explorer's setup, so the locks it makes are managed.  The
pytest plugin runs this for `pytest --safestate-explore PATH` (see `pytest_plugin`).
This module imports the analysis engine only through `safestate-lint check` in a subprocess.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from safestate_lint.config import discover
from safestate_lint.files import discover_files
from safestate_lint.runtime.explore import ExploreResult, exclude_file, explore

__all__ = ["FindingOutcome", "check_findings", "explore_finding", "explore_findings"]

_ids = itertools.count()
exclude_file(__file__)  # the probe's own calls are not the code under test


@dataclass
class FindingOutcome:
    """What exploring one finding showed: `status` is "race" (with `result`, whose schedule
    replays it), "not found" (within `result.runs` schedules) or "skipped" (`reason`)."""

    finding: Dict[str, Any]
    status: str
    result: Optional[ExploreResult] = None
    reason: str = ""

    @property
    def location(self) -> str:
        return f"{self.finding.get('path')}:{self.finding.get('line')}: {self.finding.get('code')}"

    def describe(self) -> str:
        function = self.finding.get("function") or "?"
        head = f"{self.location} {function}()"
        if self.status == "race":
            assert self.result is not None
            return (f"{head}: race shown ({self.result.kind}) on run {self.result.runs}; replay with "
                    f"explore(..., replay={json.dumps(self.result.schedule)})")
        if self.status == "not found":
            runs = self.result.runs if self.result is not None else 0
            return f"{head}: not found within {runs} schedules"
        return f"{head}: skipped ({self.reason})"


def check_findings(paths: Sequence[str], python: Optional[str] = None) -> List[Dict[str, Any]]:
    """`safestate-lint check --format json PATHS`, run as a subprocess, parsed."""
    command = [python or sys.executable, "-m", "safestate_lint", "check", "--format", "json", "--no-cache", *paths]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"safestate-lint check failed: {done.stderr.strip() or done.stdout.strip()}")
    findings: List[Dict[str, Any]] = json.loads(done.stdout or "[]")
    return findings


def _load(path: str) -> ModuleType:
    name = f"_safestate_explore_{os.path.splitext(os.path.basename(path))[0]}_{next(_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _resolve(module: ModuleType, qualname: str) -> Any:
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _callable_without(function: Any, arguments: Tuple[Any, ...]) -> Optional[str]:
    """Why `function(*arguments)` cannot be called, or None."""
    if not callable(function):
        return "not callable"
    if inspect.iscoroutinefunction(function):
        return "a coroutine function"
    try:
        inspect.signature(function).bind(*arguments)
    except TypeError:
        return "needs arguments (give them with arguments=)" if not arguments else "the arguments do not fit"
    except ValueError:
        return None
    return None


class _Probe:
    """One run's observations on a fresh copy of the module."""

    def __init__(self, path: str, qualname: str, arguments: Tuple[Any, ...]) -> None:
        self.created: Dict[str, int] = {}
        self.module = _load(path)
        self._count_instances()
        self.function = _resolve(self.module, qualname)
        self.arguments = arguments
        self.results: List[Any] = []
        self.errors: List[BaseException] = []

    def _count_instances(self) -> None:
        for name, value in list(vars(self.module).items()):
            if inspect.isclass(value) and value.__module__ == self.module.__name__:
                self.created[name] = 0
                setattr(value, "__init__", self._counting(name, value.__init__))

    def _counting(self, name: str, init: Callable[..., None]) -> Callable[..., None]:
        created = self.created

        def __init__(instance: Any, *args: Any, **kwargs: Any) -> None:
            if type(instance).__name__ == name:
                created[name] += 1
            init(instance, *args, **kwargs)
        return __init__

    def call(self) -> None:
        self.results.append(self.function(*self.arguments))

    def observed(self, state: str) -> Tuple[Any, Dict[str, int], bool]:
        value: Any = None
        if state:
            try:
                value = _summary(_resolve(self.module, state))
            except AttributeError:
                value = None
        same = len(self.results) == 2 and self.results[0] is self.results[1]
        return value, dict(self.created), same


def _summary(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    try:
        return ("size", len(value))
    except TypeError:
        return ("object", type(value).__name__)


def explore_finding(path: str, finding: Mapping[str, Any], *, arguments: Tuple[Any, ...] = (),
                    **options: Any) -> FindingOutcome:
    """Explore one finding of the module at `path`; `options` go to `explore`."""
    qualname = str(finding.get("function") or "")
    if not qualname:
        return FindingOutcome(dict(finding), "skipped", reason="the finding names no function")
    try:
        function = _resolve(_load(path), qualname)
    except AttributeError:
        return FindingOutcome(dict(finding), "skipped", reason=f"'{qualname}' cannot be reached from the module")
    except Exception as error:  # the module does not load outside its application
        return FindingOutcome(dict(finding), "skipped", reason=f"the module does not load: {error!r}")
    why = _callable_without(function, arguments)
    if why is not None:
        return FindingOutcome(dict(finding), "skipped", reason=f"'{qualname}' {why}")
    state = str(finding.get("state") or "")
    sequential = _Probe(path, qualname, arguments)
    try:
        sequential.call()
        sequential.call()
    except Exception as error:
        return FindingOutcome(dict(finding), "skipped", reason=f"two calls in a row raise {error!r}")
    expected = sequential.observed(state)

    def invariant(probe: _Probe) -> None:
        value, created, same = probe.observed(state)
        assert value == expected[0], (f"'{state}' is {value!r} after two concurrent calls of {qualname}(), "
                                      f"{expected[0]!r} after two in a row: an update was lost")
        assert created == expected[1], (f"instances created by two concurrent calls: {created}, by two in a row: "
                                        f"{expected[1]}: something was created twice")
        assert same or not expected[2], f"the two concurrent calls of {qualname}() returned different objects"

    def worker(probe: _Probe) -> None:
        probe.call()

    result = explore(lambda: _Probe(path, qualname, arguments), worker, worker, invariant=invariant, **options)
    return FindingOutcome(dict(finding), "race" if result.failed else "not found", result)


# one exploration per function: findings in one function share its race
def explore_findings(paths: Sequence[str], *, findings: Optional[Iterable[Mapping[str, Any]]] = None,
                     arguments: Optional[Mapping[str, Tuple[Any, ...]]] = None,
                     **options: Any) -> List[FindingOutcome]:
    """Check `paths` (or take `findings`, the parsed JSON) and explore each flagged function once."""
    found = list(findings) if findings is not None else check_findings(paths)
    by_path = {os.path.normcase(os.path.abspath(f.path)): f.path for f in discover_files(paths, discover)[0]}
    outcomes: List[FindingOutcome] = []
    seen: Dict[Tuple[str, str], FindingOutcome] = {}
    for finding in found:
        path = _source_of(str(finding.get("path", "")), by_path)
        key = (path, str(finding.get("function") or ""))
        if key in seen and key[1]:
            continue
        outcome = (explore_finding(path, finding, arguments=_arguments(arguments or {}, finding), **options)
                   if path else FindingOutcome(dict(finding), "skipped", reason="its file was not found"))
        seen[key] = outcome
        outcomes.append(outcome)
    return outcomes


def _arguments(arguments: Mapping[str, Tuple[Any, ...]], finding: Mapping[str, Any]) -> Tuple[Any, ...]:
    """The arguments given for `path:function`, else for `function`, else none."""
    function, path = str(finding.get("function") or ""), str(finding.get("path") or "")
    for key in (f"{path}:{function}", f"{os.path.basename(path)}:{function}", function):
        if key in arguments:
            return tuple(arguments[key])
    return ()


def _source_of(reported: str, by_path: Dict[str, str]) -> str:
    absolute = os.path.normcase(os.path.abspath(reported))
    if absolute in by_path:
        return by_path[absolute]
    for known, original in by_path.items():
        if known.endswith(os.sep + os.path.normcase(reported)):
            return original
    return reported if os.path.exists(reported) else ""

