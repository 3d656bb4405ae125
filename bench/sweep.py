"""Sweep a large real corpus with `check` and `fix` (in memory): zero crashes, every fixed file
parses, every fix is idempotent.

    python bench/sweep.py                      # stdlib (tests included) + popular packages
    python bench/sweep.py DIR [DIR ...] [--no-packages] [--jobs 2] [--limit N]

Popular packages are installed from the registry into a temporary directory. Nothing is
written to the corpus: fixes are applied to the text in memory, as `fix --diff` does.
Exit status 1 on any crash, unparsable fix or non-idempotent fix.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PACKAGES = ["requests", "flask", "django", "jinja2", "click", "pygments", "markdown", "sqlalchemy",
            "attrs", "rich", "tqdm", "pyyaml", "urllib3", "werkzeug", "docutils"]

Result = Tuple[str, int, Dict[str, int], int, Optional[str], Optional[str]]  # path, lines, codes, fixed, error, bug


def sweep_file(path: str) -> Result:
    from safestate_lint.config import Config
    from safestate_lint.engine import check_source, decode_source
    from safestate_lint.finding import SourceError
    from safestate_lint.fixers import fix_source

    config = Config()
    try:
        data = Path(path).read_bytes()
        source = decode_source(data)
    except (OSError, SourceError) as exc:
        return path, 0, {}, 0, str(exc), None
    lines = source.count("\n")
    try:
        findings = check_source(source, path, config)
    except SourceError as exc:
        return path, lines, {}, 0, str(exc), None
    except Exception:  # a crash: the bug this sweep exists to find
        return path, lines, {}, 0, None, "check crashed:\n" + traceback.format_exc()
    codes = dict(Counter(f.code for f in findings))
    if not findings:
        return path, lines, codes, 0, None, None
    try:
        result = fix_source(source, path, config)
        if result.changed:
            ast.parse(result.source)
            again = fix_source(result.source, path, config)
            if again.changed:
                return path, lines, codes, result.fixed, None, "fix is not idempotent"
        return path, lines, codes, result.fixed, None, None
    except SyntaxError as exc:
        return path, lines, codes, 0, None, f"fixed file does not parse: {exc}"
    except Exception:
        return path, lines, codes, 0, None, "fix crashed:\n" + traceback.format_exc()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*")
    parser.add_argument("--no-packages", action="store_true")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=0, help="only the first N files (for a quick run)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="safestate-sweep-") as tmp:
        roots = [Path(d) for d in args.dirs] or [Path(sysconfig.get_paths()["stdlib"])]
        if not args.dirs and not args.no_packages:
            site = Path(tmp) / "site"
            install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                      str(site), *PACKAGES], capture_output=True, text=True)
            if install.returncode:
                print(install.stderr, file=sys.stderr)
                return 2
            roots.append(site)
        files = sorted(str(p) for root in roots for p in root.rglob("*.py")
                       if "site-packages" not in p.relative_to(root).parts)
        if args.limit:
            files = files[:args.limit]
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(sweep_file, files, chunksize=16))
        elapsed = time.perf_counter() - start
    codes: Counter = Counter()
    bugs = [(path, bug) for path, _, _, _, _, bug in results if bug]
    errors = [(path, error) for path, _, _, _, error, _ in results if error]
    for _, _, found, _, _, _ in results:
        codes.update(found)
    fixed = sum(r[3] for r in results)
    fixed_files = sum(1 for r in results if r[3])
    print(f"files: {len(files)}  lines: {sum(r[1] for r in results):,}  time: {elapsed:.1f}s ({args.jobs} jobs)")
    print(f"unreadable/unparsable (reported, skipped): {len(errors)}")
    print("findings: " + ", ".join(f"{code} {count}" for code, count in sorted(codes.items())) + f" (total {sum(codes.values())})")
    print(f"fixed: {fixed} findings in {fixed_files} files")
    print(f"crashes, unparsable fixes, non-idempotent fixes: {len(bugs)}")
    for path, bug in bugs[:20]:
        print(f"  {path}: {bug}")
    return 1 if bugs else 0


if __name__ == "__main__":
    raise SystemExit(main())
