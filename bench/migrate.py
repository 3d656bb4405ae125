"""Migrate real, published packages with `safestate-lint fix` and prove nothing broke.

    python bench/migrate.py [PACKAGE ...] [--unsafe-fixes]

Installs the packages (with their dependencies) into a temporary directory from the
registry, runs `safestate-lint fix` on each package's source, then shows that every rewritten
file parses, that `check` is clean or lists only findings without an automatic fix, that a
second `fix` changes nothing, and that the package (and each rewritten module) still imports.
Exit status 1 if any of that fails.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
# packages known for module-level caches, registries and singletons
DEFAULT = {
    "pygments": "pygments",   # lexer/formatter caches and plugin registries
    "markdown": "markdown",   # extension registries
    "jinja2": "jinja2",       # module-level caches and LRU cache
    "click": "click",         # global context stacks and registries
    "tqdm": "tqdm",           # class-level instance registry
    "pyyaml": "yaml",         # module-level resolver/constructor registries
    "six": "six",             # module registries (a single module)
    "chardet": "chardet",     # detector state
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(args: List[str], **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="*", help="distribution=import_name (default: a curated set)")
    parser.add_argument("--unsafe-fixes", action="store_true")
    args = parser.parse_args(argv)
    packages: Dict[str, str] = dict(p.split("=", 1) if "=" in p else (p, p) for p in args.packages) or DEFAULT
    failures = 0
    env_path = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="safestate-migrate-") as tmp:
        site = Path(tmp) / "site"
        install = run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site), *packages])
        if install.returncode:
            print(install.stderr, file=sys.stderr)
            return 2
        rows = []
        for dist, name in packages.items():
            target = site / name if (site / name).is_dir() else site / f"{name}.py"
            files = [target] if target.is_file() else sorted(target.rglob("*.py"))
            before = {f: digest(f) for f in files}
            env = {"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}
            check_before = run([sys.executable, "-m", "safestate_lint", "check", "--no-cache", "--format", "json",
                                str(target)], cwd=tmp, env=env)
            found = len(json.loads(check_before.stdout or "[]"))
            fix_args = [sys.executable, "-m", "safestate_lint", "fix", "--no-cache", str(target)]
            if args.unsafe_fixes:
                fix_args.append("--unsafe-fixes")
            fixed = run(fix_args, cwd=tmp, env=env)
            changed = [f for f in files if digest(f) != before[f]]
            problems: List[str] = []
            for path in changed:
                try:
                    ast.parse(path.read_bytes())
                except SyntaxError as exc:
                    problems.append(f"{path}: does not parse: {exc}")
            check_after = run([sys.executable, "-m", "safestate_lint", "check", "--no-cache", "--format", "json",
                               str(target)], cwd=tmp, env=env)
            left = json.loads(check_after.stdout or "[]")
            reported_left = [line for line in fixed.stderr.splitlines() if ": SST" in line]
            if len(reported_left) != len(left):
                problems.append(f"fix said {len(reported_left)} left, check finds {len(left)}")
            again = run([*fix_args, "--diff"], cwd=tmp, env=env)
            if again.stdout.strip():
                problems.append("a second fix would change files:\n" + again.stdout[:2000])
            modules = [name] + [_module_name(site, f) for f in changed]
            importer = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
            imported = run([sys.executable, "-c", importer, *dict.fromkeys(modules)],
                           env={"PYTHONPATH": f"{site}:{env_path}", "PATH": "/usr/bin:/bin"}, cwd=tmp)
            if imported.returncode:
                problems.append("import failed:\n" + imported.stderr[-2000:])
            if fixed.returncode == 2:
                problems.append("fix reported errors:\n" + fixed.stderr[-2000:])
            rows.append((dist, len(files), found, len(changed), found - len(left), len(left), not problems))
            for problem in problems:
                failures += 1
                print(f"{dist}: {problem}", file=sys.stderr)
        print("| package | .py files | findings | files rewritten | fixed | left (no automatic fix) | parses, re-checks, idempotent, imports |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for dist, nfiles, found, changed, fixed_count, left, ok in rows:
            print(f"| {dist} | {nfiles} | {found} | {changed} | {fixed_count} | {left} | {'yes' if ok else 'NO'} |")
        totals = [sum(r[i] for r in rows) for i in range(1, 6)]
        print(f"| total | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | {totals[4]} | "
              f"{'yes' if not failures else 'NO'} |")
    return 1 if failures else 0


def _module_name(site: Path, path: Path) -> str:
    rel = path.relative_to(site).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
