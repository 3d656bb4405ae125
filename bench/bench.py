"""Benchmark safestate-lint against its peers on one corpus, in one run.

    python bench/bench.py                 # this machine's standard library (non-test modules)
    python bench/bench.py DIR [--repeat 3] [--jobs 2] [--skip-peers] [--baseline-rev REV]
    python bench/bench.py --with-tests    # the whole standard library, its tests included

Times `safestate-lint check` of this checkout (whatever PYTHONPATH says) cold (no cache,
--jobs N) and warm (cache filled): with nothing changed, after a comment line is appended to
one leaf module (one no other module of the corpus imports), and after one function body of
that leaf changed (each edit is new, so no run finds it cached; the file is restored
afterwards).  Then flake8 with and without the plugin, `thread-safe-check` and pylint
(`--disable=all --enable=global-statement -j N`).  Peers are installed into a temporary
virtual environment when missing there (flake8 in it has no plugin: that is the "without"
run).  Prints a table of times (best of --repeat), ratios to cold safestate-lint, lines per
second and peak RSS of the largest process (the probe's RUSAGE_CHILDREN ru_maxrss: the
biggest of the checker and its worker processes, not their sum), then the targets.
`--baseline-rev REV` also times the four checks of that git revision of this project
(exported into a temporary directory) and prints each one's ratio to it, so a change is
compared with its starting point in the same run; `--callgraph` adds a generated module with
1,000 functions, a 500-deep call chain and mutual recursion to the corpus.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
NOT_CODE = {"site-packages", "__pycache__"}
EXCLUDED_PARTS = NOT_CODE | {"test", "tests", "idle_test", "lib2to3"}
PEERS_VENV = Path(tempfile.gettempdir()) / "safestate-bench-peers"
CACHE_DIR = ".safestate_cache"
# the rows time_check measures, in order: key -> label
CHECKS = {"cold": "cold, no cache", "warm": "warm, nothing changed",
          "comment": "warm, a comment appended to one leaf", "body": "warm, one function body of one leaf changed"}
TARGETS = {"warm": 0.3, "comment": 0.6, "body": 0.6}  # seconds
TARGET_VS_THREAD_SAFE_CHECK = 0.40
TARGET_PEAK_RSS_MB = 400  # on the standard library with its tests (--with-tests)

Measured = Tuple[float, float]  # best seconds, peak RSS (MB) of the largest process


def stdlib_corpus(target: Path, with_tests: bool = False) -> Path:
    """Copy the standard library's non-test modules (`with_tests`: all of it) into `target`
    (every tool sees the same files)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    excluded = NOT_CODE if with_tests else EXCLUDED_PARTS
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if excluded & set(rel.parts[:-1]) or (not with_tests and rel.name.startswith("test_")):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return target


def count_lines(corpus: Path) -> Tuple[int, int]:
    files = lines = 0
    for path in corpus.rglob("*.py"):
        files += 1
        with open(path, "rb") as handle:
            lines += handle.read().count(b"\n")
    return files, lines


def peers_python() -> Path:
    """A virtual environment with flake8 (no plugin), thread-safe-check and pylint."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    import importlib.metadata as metadata

    flake8_version = metadata.version("flake8")
    need = []
    for package, module in ((f"flake8=={flake8_version}", "flake8"), ("thread-safe-check", "thread_safety"),
                            ("pylint", "pylint")):
        if subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode:
            need.append(package)
    if need:
        print(f"installing peers into {PEERS_VENV}: {' '.join(need)}", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *need], check=True)
    return python


def callgraph_module() -> str:
    """1,000 functions: a 500-deep chain of private helpers under a lock, mutual recursion,
    and callbacks, all writing shared state."""
    lines = ["import threading", "_lock = threading.Lock()", "STATE = {}", "n = 0", "listeners = []", ""]
    lines += ["def entry(x):", "    with _lock:", "        _c0(x)", ""]
    for i in range(500):
        nxt = f"    _c{i + 1}(x)\n" if i < 499 else ""
        lines.append(f"def _c{i}(x):\n    STATE[{i}] = x\n{nxt}")
    for i in range(0, 500, 2):
        lines.append(f"def _r{i}(x):\n    global n\n    n += 1\n    if x:\n        _r{i + 1}(x - 1)\n")
        lines.append(f"def _r{i + 1}(x):\n    if STATE.get(x) is None:\n        STATE[x] = 0\n    _r{i}(x)\n"
                     f"    for fn in listeners:\n        fn(x)\n")
    lines += ["def public(x):", "    _r0(x)", ""]
    return "\n".join(lines) + "\n"


def checkout_env(tmp: Path, rev: Optional[str] = None) -> Dict[str, str]:
    """The environment that runs this checkout's safestate_lint or, with `rev`, that git
    revision's (its `safestate_lint` exported into a new directory under `tmp`). Both run as an
    installed package does: compiled to bytecode once, whatever PYTHONDONTWRITEBYTECODE says
    (pip compiles what it installs; without it every run would compile the package again)."""
    base = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    if rev is None:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "safestate_lint")], env=base, check=True)
        return {**base, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    old = Path(tempfile.mkdtemp(prefix="baseline-", dir=tmp))
    archive = subprocess.run(["git", "archive", rev, "safestate_lint"], capture_output=True, check=True,
                             cwd=ROOT).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(old / "safestate_lint")], env=base, check=True)
    return {**base, "PYTHONPATH": str(old)}


def leaf_module(corpus: Path) -> Path:
    """A module no other module of the corpus imports (no import statement names its stem) that
    has a function `touch_body` can change: the first, by path, that mentions threading, else the
    first."""
    imported: Set[str] = set()
    leaves: List[Tuple[bool, Path]] = []
    for path in sorted(corpus.rglob("*.py")):
        data = path.read_bytes()
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(part for alias in node.names for part in alias.name.split("."))
            elif isinstance(node, ast.ImportFrom):
                imported.update((node.module or "").split("."))
                imported.update(alias.name for alias in node.names)
        if path.stem not in ("__init__", "__main__") and _editable_function(tree, data.decode("utf-8", "replace")):
            leaves.append((b"threading" not in data, path))
    unimported = [(unthreaded, path) for unthreaded, path in leaves if path.stem not in imported]
    if not unimported:
        raise SystemExit(f"no leaf module with a function to change in {corpus}")
    return min(unimported)[1]


def _editable_function(tree: ast.Module, text: str) -> Optional[Tuple[int, str]]:
    """(line index, indentation) of the first statement of the first function whose body starts
    on a line of its own."""
    lines = text.split("\n")  # as ast counts lines (splitlines would also split at form feeds)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            start = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", ())]) - 1
            line, col = lines[start], first.col_offset
            if start >= node.lineno and not line[:col].strip() and line[col:col + 1].strip():
                return start, line[:col]
    return None


def touch_comment(text: str, nonce: int) -> str:
    return text + ("" if text.endswith("\n") else "\n") + f"# touched by the benchmark ({nonce})\n"


def touch_body(text: str, nonce: int) -> str:
    """`text` with one more statement at the top of its first function."""
    found = _editable_function(ast.parse(text), text)
    assert found is not None
    line, indent = found
    lines = text.split("\n")
    return "\n".join(lines[:line] + [f"{indent}_touched_by_the_benchmark = {nonce}"] + lines[line:])


def measure_touched(command: List[str], cwd: Path, repeat: int, env: Dict[str, str], path: Path,
                    edit: Callable[[str, int], str]) -> Measured:
    """Best time of a run with a filled cache after `edit` changed `path` (a different edit each
    time, so no run finds it cached); `path` is restored afterwards."""
    original = path.read_bytes()
    best, peak = float("inf"), 0.0
    try:
        for nonce in range(repeat):
            path.write_bytes(original)
            subprocess.run(command, cwd=cwd, env=env, capture_output=True)  # everything else cached
            path.write_bytes(edit(original.decode("utf-8"), nonce).encode("utf-8"))
            seconds, rss = measure(command, cwd, 1, env)
            best, peak = min(best, seconds), max(peak, rss)
    finally:
        path.write_bytes(original)
    return best, peak


def time_check(command: List[str], cwd: Path, repeat: int, env: Dict[str, str],
               leaf: Optional[Path] = None) -> Dict[str, Measured]:
    """`command` (a `check` without --no-cache) timed cold and, with `leaf`, warm: nothing changed
    and `leaf` touched (keys of CHECKS).  Starts and ends without a cache in `cwd`."""
    def clear() -> None:
        for cache in cwd.glob(f"**/{CACHE_DIR}"):
            shutil.rmtree(cache, ignore_errors=True)

    clear()
    times = {"cold": measure(command + ["--no-cache"], cwd, repeat, env)}
    if leaf is not None:
        subprocess.run(command, cwd=cwd, env=env, capture_output=True)  # fill the cache
        times["warm"] = measure(command, cwd, repeat, env)
        times["comment"] = measure_touched(command, cwd, repeat, env, leaf, touch_comment)
        times["body"] = measure_touched(command, cwd, repeat, env, leaf, touch_body)
        clear()
    return times


def measure(command: List[str], cwd: Path, repeat: int, env: Optional[Dict[str, str]] = None) -> Measured:
    """Best wall time of `repeat` runs, and the peak RSS (MB) of the largest process."""
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.perf_counter(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        best = min(best, float(out[0]))
        peak = max(peak, int(out[1]) / 1024)
    return best, peak


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", help="a directory (default: this machine's standard library)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-peers", action="store_true", help="only time safestate-lint")
    parser.add_argument("--baseline-rev", help="also time the cold check of this git revision")
    parser.add_argument("--callgraph", action="store_true", help="add a large generated call-graph module")
    parser.add_argument("--with-tests", action="store_true",
                        help="the standard library with its tests (test/ directories, test_*.py, lib2to3)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="safestate-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        if args.corpus:
            shutil.copytree(args.corpus, corpus, ignore=shutil.ignore_patterns(".git", CACHE_DIR, "__pycache__"))
        else:
            stdlib_corpus(corpus, args.with_tests)
        if args.callgraph:
            (corpus / "callgraph_stress.py").write_text(callgraph_module())
        files, lines = count_lines(corpus)
        leaf = leaf_module(corpus)
        what = args.corpus or f"stdlib ({'tests included' if args.with_tests else 'non-test modules'})"
        print(f"corpus: {what}: {files} files, {lines} lines; {os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
              f"--jobs {args.jobs}; leaf touched: {leaf.relative_to(corpus)}\n")
        me = [sys.executable, "-m", "safestate_lint", "check", "-q", "--jobs", str(args.jobs), "."]
        mine = time_check(me, corpus, args.repeat, checkout_env(Path(tmp)), leaf)
        rows: List[Tuple[str, float, float, str]] = []  # name, seconds, peak RSS, x baseline
        old: Dict[str, Measured] = {}
        if args.baseline_rev:
            old = time_check(me, corpus, args.repeat, checkout_env(Path(tmp), args.baseline_rev), leaf)
        for key, label in CHECKS.items():
            ratio = f"{mine[key][0] / old[key][0]:.2f}" if old else ""
            rows.append((f"safestate-lint check ({label})", *mine[key], ratio))
        for key, label in CHECKS.items():
            if old:
                rows.append((f"safestate-lint {args.baseline_rev} check ({label})", *old[key], "1.00"))
        flake8_args = ["-m", "flake8", "--jobs", str(args.jobs), "--exit-zero", "."]
        env = checkout_env(Path(tmp))
        rows.append(("flake8 + safestate-lint plugin",
                     *measure([sys.executable, *flake8_args], corpus, args.repeat, env), ""))
        if not args.skip_peers:
            peers = peers_python()
            rows.append(("flake8 (no plugin)", *measure([str(peers), *flake8_args], corpus, args.repeat), ""))
            tsc = str(peers.parent / "thread-safety")
            rows.append(("thread-safe-check", *measure([tsc, "analyze", ".", "-l", "python", "-f", os.devnull],
                                                       corpus, args.repeat), ""))
            rows.append(("pylint --enable=global-statement", *measure(
                [str(peers), "-m", "pylint", "--disable=all", "--enable=global-statement", "-j", str(args.jobs),
                 "--exit-zero", "."], corpus, 1), ""))
        base = mine["cold"][0]
        print(f"| tool | time (s) | x safestate-lint cold | x {args.baseline_rev or 'baseline'} "
              f"| lines/s | peak RSS (MB) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, seconds, peak, ratio in rows:
            print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {ratio} | {lines / seconds:,.0f} | {peak:.0f} |")
        timings = {name: seconds for name, seconds, _, _ in rows}
        if "flake8 (no plugin)" in timings:
            plugin = timings["flake8 + safestate-lint plugin"] / timings["flake8 (no plugin)"] - 1
            print(f"\nthe plugin adds {plugin:+.0%} to flake8's own time")
        print("\ntargets (this checkout):")
        if "thread-safe-check" in timings:
            vs = base / timings["thread-safe-check"]
            print(f"  cold check / thread-safe-check = {vs:.2f} (at most {TARGET_VS_THREAD_SAFE_CHECK:.2f}): "
                  f"{'met' if vs <= TARGET_VS_THREAD_SAFE_CHECK else 'MISSED'}")
        for key, limit in TARGETS.items():
            print(f"  {CHECKS[key]} = {mine[key][0]:.2f} s (at most {limit} s): "
                  f"{'met' if mine[key][0] <= limit else 'MISSED'}")
        peak = max(rss for _, rss in mine.values())
        verdict = "measured with --with-tests"
        if args.with_tests:
            verdict = "met" if peak < TARGET_PEAK_RSS_MB else "MISSED"
        print(f"  peak RSS of the largest process = {peak:.0f} MB (under {TARGET_PEAK_RSS_MB} MB on the standard "
              f"library with its tests): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
