"""How `check` scales with a project's size: a generated project of 250, 500 and 1,000 modules.

    python bench/project_bench.py [--jobs N] [--repeat 3] [--seed 0] [--baseline-rev REV] [--keep DIR]

Generates (deterministically, from --seed) a package `synth` of 1,000 modules in sub-packages
`synth.gA.hB` with deep import chains: module i imports module i-1 and up to two earlier ones,
with `from .m import Y as Z`, `from ..hB.m import ...`, `import synth.gA.hB.m`, `from . import m`
and absolute from-imports.  Each module has a class that owns a lock (and forgets it in some
methods), a module-level instance of it and one of a class from another module, a registry
dict filled by functions, a counter behind `global`; most also have a worker class that starts
threads on its own method, a function of another module called under the module's lock, an
lru_cache factory, thread targets and pool submissions of other modules' functions, and
single-threaded filler.  The 250- and 500-module projects are the first modules of the 1,000
(each closed under imports); each project has a pyproject.toml with a [tool.safestate-lint]
table at its root.

Times `check --no-cache` (cold) on each project, then, on the 1,000-module one, warm checks:
nothing changed, a comment appended to the last module (a leaf: nothing imports it), one
function body of it changed (helpers shared with bench.py).  Prints modules, seconds (best of
--repeat), seconds per 1,000 modules and the cold rows' ratio of that to the 250 row (1.0 is
linear); `--baseline-rev REV` times the same of a git revision of this project in the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import CHECKS, Measured, checkout_env, count_lines, time_check  # noqa: E402

SIZES = (250, 500, 1000)
PACKAGE = "synth"


def package_of(i: int) -> List[str]:
    """synth.gA.hB: ten groups of 100 modules, each five sub-packages of 20."""
    return [PACKAGE, f"g{i // 100}", f"h{(i // 20) % 5}"]


def import_of(i: int, j: int, style: int) -> Tuple[str, str]:
    """The import statement module i uses for module j, and the prefix that names j's names."""
    here, there, name = package_of(i), package_of(j), f"m{j:04d}"
    common = next((k for k, (a, b) in enumerate(zip(here, there)) if a != b), len(here))
    relative = "." * (len(here) - common + 1) + ".".join(there[common:])
    dotted = ".".join(there + [name])
    exported = (f"Store{j}", f"helper{j}", f"STORE{j}", f"register{j}")
    if style == 0:  # from .x import Y as Z
        module = relative + ("." if not relative.endswith(".") else "") + name
        names = ", ".join(f"{n} as _{n}" for n in exported)
        return f"from {module} import {names}", "_"
    if style == 1:  # import pkg.sub.mod
        return f"import {dotted}", dotted + "."
    if style == 2:  # from . import mod as alias
        return f"from {relative} import {name} as _{name}", f"_{name}."
    return f"from {dotted} import {', '.join(exported)}", ""  # absolute from-import


def module_source(i: int, n: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + i)
    deps = ([i - 1] if i else []) + rng.sample(range(i - 1), min(2, max(0, i - 1)))
    imports, refs = [], []
    for j in deps:
        statement, prefix = import_of(i, j, rng.randrange(4))
        imports.append(statement)
        refs.append((j, prefix))
    out = [f'"""Generated module {i} of {n} (seed {seed})."""', "", "import functools", "import threading",
           *sorted(set(imports)), "", "_lock = threading.Lock()", f"REGISTRY{i} = {{}}", "_hits = 0", "", "",
           f"class Store{i}:",
           "    def __init__(self):",
           "        self._lock = threading.Lock()",
           "        self._items = {}",
           "        self.count = 0",
           "",
           "    def put(self, key, value):",
           "        with self._lock:",
           "            self._items[key] = value",
           "",
           "    def get(self, key):",
           "        return self._items.get(key)",
           "",
           "    def bump(self):",
           "        self.count += 1",
           "",
           "    def snapshot(self):",
           "        with self._lock:",
           "            return dict(self._items)",
           "", "",
           f"STORE{i} = Store{i}()", "", "",
           f"def register{i}(key, value):",
           f"    REGISTRY{i}[key] = value", "", "",
           f"def helper{i}(x):",
           "    global _hits",
           "    _hits += 1",
           f"    REGISTRY{i}.setdefault(x, 0)",
           f"    return len(REGISTRY{i})", "", ""]
    if refs:
        j, prefix = refs[0]
        out += [f"SHARED{i} = {prefix}Store{j}()", "", ""]
        if rng.random() < 0.6:
            j, prefix = rng.choice(refs)
            out += [f"def locked_call{i}(x):", "    with _lock:", f"        return {prefix}helper{j}(x)", "", ""]
        if rng.random() < 0.6:
            j, prefix = rng.choice(refs)
            k, other = rng.choice(refs)
            out += [f"class Worker{i}:",
                    "    def __init__(self):",
                    "        self.results = []",
                    "        self._threads = []",
                    "",
                    "    def start(self, n=4):",
                    "        for k in range(n):",
                    "            t = threading.Thread(target=self._run, args=(k,), daemon=True)",
                    "            self._threads.append(t)",
                    "            t.start()",
                    "",
                    "    def _run(self, k):",
                    "        self.results.append(k)",
                    f"        {prefix}STORE{j}.bump()",
                    f"        {other}register{k}(k, self)",
                    f"        SHARED{i}.put(k, k)", "", "",
                    f"WORKER{i} = Worker{i}()", "", ""]
        if rng.random() < 0.3:
            j, prefix = rng.choice(refs)
            out += [f"def spawn{i}():",
                    f"    threading.Thread(target={prefix}helper{j}, args=({i},)).start()",
                    f"    threading.Thread(target=register{i}, args=({i}, None)).start()", "", ""]
        if rng.random() < 0.2:
            j, prefix = rng.choice(refs)
            out += ["from concurrent.futures import ThreadPoolExecutor", "", "",
                    f"def fan_out{i}(keys):",
                    "    with ThreadPoolExecutor(4) as pool:",
                    f"        return list(pool.map({prefix}helper{j}, keys))", "", ""]
    if rng.random() < 0.4:
        out += ["@functools.lru_cache(maxsize=None)", f"def factory{i}(name):", f"    return Store{i}()", "", ""]
    for k in range(rng.randrange(3, 12)):  # single-threaded filler
        modulus, factor = rng.randrange(2, 9), rng.randrange(1, 50)
        out += [f"def compute{i}_{k}(values, limit={factor * 10}):",
                "    total = 0",
                "    seen = []",
                "    for v in values:",
                f"        if v % {modulus} == 0 and v < limit:",
                f"            total += v * {factor}",
                "            seen.append(v)",
                "    return total, seen", "", ""]
    return "\n".join(out).rstrip() + "\n"


def generate(root: Path, n: int, seed: int) -> Path:
    """A project of modules 0..n-1 under `root`; returns the last module (a leaf)."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{PACKAGE}"\nversion = "0"\n\n[tool.safestate-lint]\n')
    for i in range(n):
        directory = root.joinpath(*package_of(i))
        for depth in range(1, 4):
            init = root.joinpath(*package_of(i)[:depth], "__init__.py")
            if not init.exists():
                directory.mkdir(parents=True, exist_ok=True)
                init.write_text(f'"""Generated package {".".join(package_of(i)[:depth])}."""\n')
        (directory / f"m{i:04d}.py").write_text(module_source(i, n, seed))
    return directory / f"m{n - 1:04d}.py"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-rev", help="also time this git revision of this project")
    parser.add_argument("--keep", metavar="DIR",
                        help="generate the projects into DIR (250/, 500/, 1000/) and keep them")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="safestate-project-bench-") as tmp:
        where = Path(args.keep) if args.keep else Path(tmp)
        projects = {n: (where / str(n), generate(where / str(n), n, args.seed)) for n in SIZES}
        files, lines = count_lines(projects[SIZES[-1]][0])
        print(f"generated project (seed {args.seed}): {SIZES[-1]} modules, {files} files, {lines} lines; "
              f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}; --jobs {args.jobs}; best of {args.repeat}\n")
        me = [sys.executable, "-m", "safestate_lint", "check", "-q", "--exit-zero", "--jobs", str(args.jobs), "."]
        variants = [("this checkout", checkout_env(Path(tmp)))]
        if args.baseline_rev:
            variants.append((args.baseline_rev, checkout_env(Path(tmp), args.baseline_rev)))
        rows: Dict[str, List[Tuple[str, int, Measured]]] = {}
        for name, env in variants:
            rows[name] = []
            for n, (root, leaf) in projects.items():
                times = time_check(me, root, args.repeat, env, leaf if n == SIZES[-1] else None)
                rows[name] += [(run, n, times[run]) for run in times]
        smallest = SIZES[0]
        for name, _ in variants:
            vs_baseline = args.baseline_rev is not None and name != args.baseline_rev
            print(f"{name}:\n")
            extra = (f" x {args.baseline_rev} |", " ---: |") if vs_baseline else ("", "")
            print(f"| run | modules | seconds | s / 1,000 modules | per-module ratio to {smallest} "
                  f"| peak RSS (MB) |{extra[0]}")
            print(f"| --- | ---: | ---: | ---: | ---: | ---: |{extra[1]}")
            cold_per_1000 = rows[name][0][2][0] / smallest * 1000
            for index, (run, n, (seconds, peak)) in enumerate(rows[name]):
                ratio = f"{seconds / n * 1000 / cold_per_1000:.2f}" if run == "cold" else ""
                vs = f" {seconds / rows[args.baseline_rev][index][2][0]:.2f} |" if vs_baseline else ""
                print(f"| {CHECKS[run]} | {n} | {seconds:.2f} | {seconds / n * 1000:.2f} | {ratio} | {peak:.0f} |{vs}")
            print()
        if args.keep:
            print(f"projects kept in {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
