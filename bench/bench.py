"""Benchmark safestate-lint against its peers on one corpus, in one run.

    python bench/bench.py                 # this machine's standard library (non-test modules)
    python bench/bench.py DIR [--repeat 3] [--jobs 2] [--skip-peers] [--baseline-rev REV]

Times cold `safestate-lint check` (no cache, --jobs N), warm `check` (cache filled, nothing
changed), flake8 with and without the plugin, `thread-safe-check` and pylint
(`--disable=all --enable=global-statement -j N`).  Peers are installed into a temporary
virtual environment when missing there (flake8 in it has no plugin: that is the "without"
run).  Prints a table of times (best of --repeat), ratios to cold safestate-lint, lines per
second and peak RSS of the largest process.  `--baseline-rev REV` also times the cold check
of that git revision of this project (exported into a temporary directory), so a change is
compared with its starting point in the same run; `--callgraph` adds a generated module with
1,000 functions, a 500-deep call chain and mutual recursion to the corpus.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

EXCLUDED_PARTS = {"test", "tests", "idle_test", "site-packages", "__pycache__", "lib2to3"}
PEERS_VENV = Path(tempfile.gettempdir()) / "safestate-bench-peers"


def stdlib_corpus(target: Path) -> Path:
    """Copy the standard library's non-test modules into `target` (every tool sees the same files)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if EXCLUDED_PARTS & set(rel.parts[:-1]) or rel.name.startswith("test_"):
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


def measure(command: List[str], cwd: Path, repeat: int, env: Optional[Dict[str, str]] = None) -> Tuple[float, float]:
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
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="safestate-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        if args.corpus:
            shutil.copytree(args.corpus, corpus, ignore=shutil.ignore_patterns(".git", ".safestate_cache", "__pycache__"))
        else:
            stdlib_corpus(corpus)
        if args.callgraph:
            (corpus / "callgraph_stress.py").write_text(callgraph_module())
        files, lines = count_lines(corpus)
        print(f"corpus: {args.corpus or 'stdlib (non-test modules)'}: {files} files, {lines} lines; "
              f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}\n")
        me = [sys.executable, "-m", "safestate_lint", "check", "-q", "--jobs", str(args.jobs), "."]
        rows: List[Tuple[str, float, float]] = []
        rows.append(("safestate-lint check (cold, no cache)", *measure(me + ["--no-cache"], corpus, args.repeat)))
        if args.baseline_rev:
            old = Path(tmp) / "baseline"
            old.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline_rev, "safestate_lint"], capture_output=True,
                                     check=True, cwd=Path(__file__).resolve().parent.parent).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            env = {**os.environ, "PYTHONPATH": str(old)}
            rows.append((f"safestate-lint {args.baseline_rev} check (cold)",
                         *measure(me + ["--no-cache"], corpus, args.repeat, env=env)))
        subprocess.run(me, cwd=corpus, capture_output=True)  # fill the cache
        rows.append(("safestate-lint check (warm cache)", *measure(me, corpus, args.repeat)))
        flake8_args = ["-m", "flake8", "--jobs", str(args.jobs), "--exit-zero", "."]
        rows.append(("flake8 + safestate-lint plugin", *measure([sys.executable, *flake8_args], corpus, args.repeat)))
        if not args.skip_peers:
            peers = peers_python()
            rows.append(("flake8 (no plugin)", *measure([str(peers), *flake8_args], corpus, args.repeat)))
            tsc = str(peers.parent / "thread-safety")
            rows.append(("thread-safe-check", *measure([tsc, "analyze", ".", "-l", "python", "-f", os.devnull],
                                                       corpus, args.repeat)))
            rows.append(("pylint --enable=global-statement", *measure(
                [str(peers), "-m", "pylint", "--disable=all", "--enable=global-statement", "-j", str(args.jobs),
                 "--exit-zero", "."], corpus, 1)))
        base = rows[0][1]
        print("| tool | time (s) | x safestate-lint cold | lines/s | peak RSS (MB) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, seconds, peak in rows:
            print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {lines / seconds:,.0f} | {peak:.0f} |")
        timings = {name: seconds for name, seconds, _ in rows}
        if "flake8 (no plugin)" in timings:
            plugin = timings["flake8 + safestate-lint plugin"] / timings["flake8 (no plugin)"] - 1
            print(f"\nthe plugin adds {plugin:+.0%} to flake8's own time")
        if "thread-safe-check" in timings:
            print(f"cold check / thread-safe-check = {base / timings['thread-safe-check']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
