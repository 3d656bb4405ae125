"""Precision and recall of `check` on hand-labelled sites of seven real threaded projects.

    python bench/realworld/precision.py PROJECTS_DIR

PROJECTS_DIR holds each project of labels.json extracted at its recorded commit, one folder
per name (`kafka-python/`, `waitress/`, ...: e.g. `git --git-dir=MIRROR archive COMMIT | tar -x
-C PROJECTS_DIR/NAME`). Each site in labels.json was judged TRUE (a race with a consequence),
BENIGN (an interleaving with none) or FALSE (no interleaving) by reading the code, before the
findings of the version under test were looked at. This runs this checkout's `check` on each
project's package and prints score.py's table: TRUE found, BENIGN and FALSE reported, the
precision, and the findings no label covers (to label next).
stdlib_labels.json holds the same judgement for 40 standard-library sites (20 findings the
race model removed, 20 it kept).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    projects = os.path.abspath(argv[1])
    with open(os.path.join(HERE, "labels.json")) as handle:
        labels = json.load(handle)
    with tempfile.TemporaryDirectory() as tmp:
        for name, meta in labels["projects"].items():
            meta["root"] = os.path.join(projects, name)
            target = os.path.join(meta["root"], meta["package"])
            if not os.path.isdir(target):
                print(f"{name}: {target} is missing (extract {meta['repo']} at {meta['commit']})", file=sys.stderr)
                return 2
            found = subprocess.run([sys.executable, "-m", "safestate_lint", "check", "--no-cache", "--exit-zero",
                                    "--format", "json", target], cwd=meta["root"], capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": ROOT})
            with open(os.path.join(tmp, f"{name}.json"), "w") as out:
                out.write(found.stdout)
        resolved = os.path.join(tmp, "labels.json")
        with open(resolved, "w") as out:
            json.dump(labels, out)
        return subprocess.run([sys.executable, os.path.join(HERE, "score.py"), resolved, tmp]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
