"""Shared test helpers: golden-file expectations and running the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# `# SST102`, or several codes for one line: `# SST102 SST105` (a comma between them is fine too)
MARKER = re.compile(r"#.*?\b(SST\d{3}(?:[\s,]+SST\d{3})*)\b")
# rules outside the default selection: a golden file marks them, a default run does not report them
OPT_IN = frozenset({"SST105"})


def expected_findings(source: str, opt_in: bool = True) -> Set[Tuple[int, str]]:
    """(line, code) pairs named by trailing `# SSTnnn` comments; without `opt_in`, only the
    codes of the default selection."""
    found = set()
    for number, line in enumerate(source.splitlines(), 1):
        comment = line.split("#", 1)
        if len(comment) == 2:
            for codes in MARKER.findall("#" + comment[1]):
                found.update((number, code) for code in re.findall(r"SST\d{3}", codes)
                             if opt_in or code not in OPT_IN)
    return found


def run_cli(args: Sequence[str], cwd: Optional[os.PathLike] = None, stdin: Optional[bytes] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "safestate_lint", *args],
        cwd=cwd, input=stdin, capture_output=True, timeout=timeout, env=env,
    )


def fixture_files() -> List[Path]:
    return sorted(FIXTURES.glob("*.py"))


# A generated program run in a subprocess (tests/test_properties.py): its deterministic main
# (every call once, then the state) single-threaded, then the same calls from several threads
# started together, then, for a program that forks, a fork while another thread holds every
# lock the program has.  Each phase runs under a watchdog: a phase that does not finish in time
# prints `HANG: <phase>` and the threads' stacks and exits with 3.
PROGRAM_HARNESS = r'''
import faulthandler, importlib.util, json, os, sys, threading, time
path, plan = sys.argv[1], json.loads(sys.argv[2])
SECONDS = plan["seconds"]


def dump(value):
    """A value printed the same whatever container class holds it (a fix may swap dict for LockedDict)."""
    if isinstance(value, dict):
        return repr(sorted(value.items(), key=repr))
    if isinstance(value, (set, frozenset)):
        return repr(sorted(value, key=repr))
    if isinstance(value, list):
        return repr(list(value))
    return repr(value)


def watchdog(phase, target):
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(SECONDS)
    if thread.is_alive():
        print("HANG:", phase)
        sys.stdout.flush()
        faulthandler.dump_traceback(all_threads=True)
        os._exit(3)


spec = importlib.util.spec_from_file_location("generated", path)
m = importlib.util.module_from_spec(spec)
ns = {"m": m}


def call(code, k):
    try:
        return dump(eval(code, ns, {"k": k}))
    except Exception as exc:  # printed by type: the message may name an address
        return "raised " + type(exc).__name__


def main():
    spec.loader.exec_module(m)
    exec(plan["setup"], ns)
    for j, code in enumerate(plan["calls"]):
        print(code, "->", call(code, j % 3))
    for code in plan["forkers"]:
        print(code, "->", call(code, 1))
    for expr in plan["state"]:
        print(expr, "=", call(expr, 0))
    sys.stdout.flush()


watchdog("the single-threaded main", main)
print("=== threads")
sys.stdout.flush()


def threads():
    barrier = threading.Barrier(plan["threads"])

    def worker(t):
        barrier.wait()
        for i in range(plan["iterations"]):
            for code in plan["calls"]:
                call(code, (i + t) % 5)

    sys.setswitchinterval(1e-5)
    workers = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(plan["threads"])]
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join()
    sys.setswitchinterval(0.005)


watchdog("%d threads calling every function %d times" % (plan["threads"], plan["iterations"]), threads)


def lock_likes():
    """Every lock the program holds in a global, a class or an instance of its classes (a
    runtime container's own lock too): what a thread may hold at the moment another forks."""
    seen, found = set(), []

    def consider(value):
        if id(value) in seen or isinstance(value, type):
            return
        seen.add(id(value))
        if hasattr(value, "acquire_write") or (hasattr(value, "acquire") and hasattr(value, "release")):
            found.append(value)
        inner = getattr(value, "lock", None) if isinstance(value, (dict, list, set)) else None
        if inner is not None:
            consider(inner)

    values = list(vars(m).values()) + list(ns.values())
    for value in list(values):
        if isinstance(value, type) and value.__module__ == m.__name__:
            values.extend(vars(value).values())
        elif type(value).__module__ == m.__name__ and hasattr(value, "__dict__"):
            values.extend(vars(value).values())
    for value in values:
        consider(value)
    return found


def acquire(lock):
    if hasattr(lock, "acquire_write"):
        return lock.acquire_write(timeout=2)
    return lock.acquire(timeout=2)


def release(lock):
    (lock.release_write if hasattr(lock, "acquire_write") else lock.release)()


def fork_while_held():
    held, holding, done = lock_likes(), threading.Event(), threading.Event()

    def holder():
        got = [lock for lock in held if acquire(lock)]
        holding.set()
        done.wait()
        for lock in reversed(got):
            release(lock)

    threading.Thread(target=holder, daemon=True).start()
    holding.wait(SECONDS)
    sys.stdout.flush()
    for code in plan["forkers"]:
        call(code, 2)
    pid = os.fork()  # the program's after_in_child hooks run in this child
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    done.set()


if plan["forkers"] or plan["fork_hooks"]:
    if hasattr(os, "fork"):
        watchdog("a fork while another thread holds every lock of the program", fork_while_held)
print("=== done")
'''


def run_programs(sources: Sequence[str], plan: dict, tmp: Path,
                 timeout: float = 60) -> List[Tuple[Optional[int], str, str]]:
    """Run each source under PROGRAM_HARNESS with `plan`, all at once; (exit code or None for a
    timeout, stdout, stderr) each.  Output goes to files, not pipes: a forked child that hangs
    keeps its parent's pipes open.  Every process of a run (a forked child too) is killed after."""
    import json
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
    procs = []
    for index, source in enumerate(sources):
        path = tmp / f"program_{index}.py"
        path.write_text(source)
        with open(tmp / f"out_{index}", "w") as out, open(tmp / f"err_{index}", "w") as err:
            procs.append(subprocess.Popen([sys.executable, "-c", PROGRAM_HARNESS, str(path), json.dumps(plan)],
                                          stdout=out, stderr=err, env=env, cwd=str(tmp), start_new_session=True))
    deadline = time.monotonic() + timeout
    results: List[Tuple[Optional[int], str, str]] = []
    for index, proc in enumerate(procs):
        try:
            code: Optional[int] = proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            code = None
        _kill_group(proc)
        proc.wait()
        results.append((code, (tmp / f"out_{index}").read_text(), (tmp / f"err_{index}").read_text()))
    return results


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - no process groups (Windows)
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
