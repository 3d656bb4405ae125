"""The event-loop fixes, proven by running the golden programs: the original races between
tasks of one loop, the fixed one does not; a slow fetch is a single flight per key (other
keys never wait); the module works across several `asyncio.run()` calls; and all of it on
Python 3.9 too (where an `asyncio.Lock()` made at import time belongs to the loop current
then), when a 3.9 interpreter is installed here.

Only the standard library and the runtime are needed: the free-threaded leg of `.ci/run`
runs this file as well (the fixed programs are the checked-in `.fixed.py` goldens, which
`test_fixers.py` proves `fix` produces)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fix_cases"
PY39 = Path(os.environ.get("SAFESTATE_PY39", "/root/.pyenv/versions/3.9.18/bin/python3.9"))
INTERPRETERS = [pytest.param(sys.executable, id="this-python"),
                pytest.param(str(PY39), id="py3.9", marks=pytest.mark.skipif(not PY39.exists(),
                                                                             reason="no Python 3.9 here"))]

# two asyncio.run() calls, each: 40 pages of 10 urls (fetch sleeps 0.05 s), 50 consumers of a
# queue adding their item to one tally, 20 concurrent schema upgrades
DRIVER = r'''
import asyncio, importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("case_under_test", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)

async def once():
    start = time.monotonic()
    sizes = await m.crawl([f"https://example.invalid/{i % 10}" for i in range(40)])
    took = time.monotonic() - start
    total = await m.pipeline(50)
    version = await m.upgrades(20)
    return sizes, took, total, version

runs = []
for _ in range(2):  # a lock bound to the first loop fails the second run
    runs.append(asyncio.run(asyncio.wait_for(once(), 20)))
print(json.dumps({"fetches": len(m._fetches), "connects": len(m._connects), "first_crawl": runs[0][1],
                  "sizes": runs[0][0] == runs[1][0], "totals": [r[2] for r in runs],
                  "versions": [r[3] for r in runs]}))
'''


def run(python: str, path: Path) -> dict:
    done = subprocess.run([python, "-c", DRIVER, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("python", INTERPRETERS)
def test_the_fixed_crawler_is_correct_across_two_loops(python):
    fixed = run(python, CASES / "loop_single_flight.fixed.py")
    assert fixed["fetches"] == 10  # each url fetched once, in the first run (a single flight per key)
    assert fixed["connects"] == 1  # set up once (a single flight for the creation)
    assert fixed["first_crawl"] < 0.4  # the 10 fetches overlap (0.05 s each): no lock held across all of them
    assert fixed["sizes"] is True
    assert fixed["totals"] == [1225, 2450]  # sum(range(50)) per run: no consumer's item lost
    assert fixed["versions"] == [20, 40]  # no upgrade lost


@pytest.mark.parametrize("python", INTERPRETERS)
def test_the_original_crawler_shows_every_race_the_fix_removes(python):
    original = run(python, CASES / "loop_single_flight.py")
    assert original["fetches"] > 10  # the same url fetched by several tasks
    assert original["connects"] > 1  # set up by several tasks
    assert original["totals"][0] < 1225 and original["versions"][0] < 20  # lost updates


def test_the_fix_never_makes_an_asyncio_lock_at_import_time():
    for fixed in CASES.glob("loop_*.fixed.py"):
        text = fixed.read_text()
        assert "asyncio.Lock()" not in text, fixed.name
        assert "LoopLock()" in text, fixed.name
