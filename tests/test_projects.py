"""Multi-module projects (tests/projects/<shape>/): the racing code and the reason it is shared
live in different modules, so only a whole-project index finds them.

Each project has `prove.py`, whose `race()` returns the explorer's result for its races
(`.failed`; `.all_failed` when there are several), and `EXPECTED.json`: the sites a good linter
reports (`report`: path, line, state, consequence) and lines it must not report (`quiet`).

For each project, in a copy under tmp_path (the source tree is never written):
  a) `prove.race()` fails on the project as written (every race shows), or, for a project with
     nothing to report, finds no failing schedule;
  b) `check --format json --no-cache .` reports every `report` site and no `quiet` site;
  c) `check <file>` alone gives exactly that file's findings of the whole-project run;
  d) real `flake8 --select SST` on the first racing file gives the same lines and codes as (b);
  e) after `fix .`, `prove.race()` no longer fails and every module of the package imports; a
     project whose EXPECTED.json says `no_fix` (no correct fix is known) must make `fix` write
     nothing and say why, and its race still shows.
(a) and (e) also run on the free-threaded build (.ci/free-threaded), where the races are real.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
from helpers import ROOT, run_cli

PROJECTS = ROOT / "tests" / "projects"
NAMES = sorted(p.name for p in PROJECTS.iterdir() if (p / "EXPECTED.json").is_file())
RACE_TIMEOUT = 240
FLAKE8_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>SST\d+) ")

RACE_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import prove
result = prove.race()
print(json.dumps({"failed": bool(result.failed),
                  "all_failed": bool(getattr(result, "all_failed", result.failed)),
                  "text": str(result)}))
"""

IMPORT_SCRIPT = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2:]:
    importlib.import_module(name)
print("imported", len(sys.argv) - 2)
"""


def test_every_shape_has_a_project():
    assert NAMES == sorted([
        "thread_on_own_method", "module_instance_lazy_init", "registry_container", "handed_to_thread",
        "lru_cache_factory", "lock_owner_outside", "di_container", "aliased_registry", "published_flag",
        "async_client", "caller_held_lock", "src_layout_namespace",
    ])


def expected(name: str) -> dict:
    return json.loads((PROJECTS / name / "EXPECTED.json").read_text())


def env() -> Dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT)  # this checkout's safestate_lint, nothing else
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def copy_project(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(PROJECTS / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def source_root(project: Path) -> Path:
    return project / "src" if (project / "src").is_dir() else project


def package_files(project: Path) -> List[str]:
    """The package's modules, as paths relative to the project root."""
    package = source_root(project) / "app"
    return sorted(p.relative_to(project).as_posix() for p in package.rglob("*.py"))


def module_names(project: Path) -> List[str]:
    base = source_root(project)
    names = []
    for path in sorted((base / "app").rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def run_race(project: Path) -> dict:
    try:
        done = subprocess.run([sys.executable, "-c", RACE_SCRIPT, str(project)], cwd=project, env=env(),
                              capture_output=True, text=True, timeout=RACE_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"prove.race() did not finish in {RACE_TIMEOUT}s")
    assert done.returncode == 0, f"prove.race() crashed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def norm(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def check_json(project: Path, *paths: str) -> List[dict]:
    done = run_cli(["check", "--format", "json", "--no-cache", *paths], cwd=project)
    assert done.returncode in (0, 1), f"check {' '.join(paths)} exited {done.returncode}:\n{done.stderr.decode()}"
    findings = json.loads(done.stdout or b"[]")
    for finding in findings:
        finding["path"] = norm(finding["path"])
    return findings


def key(finding: dict) -> Tuple[int, int, str, str]:
    return finding["line"], finding["col"], finding["code"], finding["message"]


def sites(findings: List[dict]) -> Set[Tuple[str, int]]:
    return {(f["path"], f["line"]) for f in findings}


def reported(site: dict, lines: Set[int]) -> bool:
    """A race is found when one of its lines is reported: its `line`, or an `also` line (a
    check-then-act's test or its write, when either is where a reader looks)."""
    return bool({site["line"], *site.get("also", ())} & lines)


def listing(findings: List[dict]) -> str:
    return "\n".join(f"  {f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}" for f in findings) or "  (none)"


@pytest.mark.parametrize("name", NAMES)
def test_a_prove_shows_the_race_on_the_project_as_written(name, tmp_path):
    project = copy_project(name, tmp_path)
    outcome = run_race(project)
    if expected(name)["report"]:
        assert outcome["all_failed"], f"the explorer did not show every race:\n{outcome['text']}"
    else:
        assert not outcome["failed"], f"the locked program raced:\n{outcome['text']}"
    assert not list(project.rglob("*.pyc"))  # nothing written into the copy, let alone the source tree


@pytest.mark.parametrize("name", NAMES)
def test_b_whole_project_check_reports_the_races_and_nothing_quiet(name, tmp_path):
    project = copy_project(name, tmp_path)
    findings = check_json(project, ".")
    found = sites(findings)
    want = expected(name)
    missed = [f"{r['path']}:{r['line']} ({r['state']})" for r in want["report"]
              if not reported(r, {line for path, line in found if path == r["path"]})]
    noisy = [f"{q['path']}:{q['line']}" for q in want["quiet"] if (q["path"], q["line"]) in found]
    assert not missed and not noisy, (f"missed: {missed}\nreported but must be quiet: {noisy}\n"
                                      f"findings:\n{listing(findings)}")


@pytest.mark.parametrize("name", NAMES)
def test_c_one_file_alone_gives_its_findings_of_the_whole_project_run(name, tmp_path):
    project = copy_project(name, tmp_path)
    whole = check_json(project, ".")
    want = expected(name)
    differences = []
    for path in package_files(project):
        alone = check_json(project, path)
        assert all(f["path"] == path for f in alone), listing(alone)
        in_whole = sorted(key(f) for f in whole if f["path"] == path)
        if sorted(key(f) for f in alone) != in_whole:
            differences.append(f"{path} alone:\n{listing(alone)}\n{path} in the whole project:\n"
                               f"{listing([f for f in whole if f['path'] == path])}")
        missed = [r["line"] for r in want["report"] if r["path"] == path and not reported(r, {f["line"] for f in alone})]
        if missed:
            differences.append(f"{path} alone misses expected lines {missed}")
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize("name", NAMES)
def test_d_flake8_on_a_racing_file_agrees_with_the_whole_project_check(name, tmp_path):
    pytest.importorskip("flake8")
    project = copy_project(name, tmp_path)
    want = expected(name)
    path = want["report"][0]["path"] if want["report"] else want["quiet"][0]["path"]
    whole = {(f["line"], f["code"]) for f in check_json(project, ".") if f["path"] == path}
    done = subprocess.run([sys.executable, "-m", "flake8", "--select", "SST", path], cwd=project, env=env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    from_flake8 = {(int(m["line"]), m["code"]) for m in map(FLAKE8_LINE.match, done.stdout.splitlines())
                   if m and norm(m["path"]) == path}
    assert from_flake8 == whole, f"flake8 {path}: {sorted(from_flake8)}\ncheck . for {path}: {sorted(whole)}"
    missed = [r["line"] for r in want["report"] if r["path"] == path
              and not reported(r, {line for line, _ in from_flake8})]
    assert not missed, f"flake8 misses {missed}"


@pytest.mark.parametrize("name", NAMES)
def test_e_fix_removes_the_race_and_the_package_still_imports(name, tmp_path):
    project = copy_project(name, tmp_path)
    pristine = copy_project(name, tmp_path / "pristine")
    # on the free-threaded leg the fixer runs on an interpreter that has libcst; the proof runs here
    fixer = os.environ.get("SAFESTATE_FIX_PYTHON", sys.executable)
    fixed = subprocess.run([fixer, "-m", "safestate_lint", "fix", "."], cwd=project, capture_output=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert fixed.returncode in (0, 1), fixed.stderr.decode()
    refused = expected(name).get("no_fix")
    if refused:  # no correct fix is known: `fix` must say why and write nothing, and the race stays shown
        said = fixed.stderr.decode()
        assert "no automatic fix: " in said and refused in said.replace("\n", " "), said
        changed = [p for p in package_files(project) if not filecmp.cmp(project / p, pristine / p, shallow=False)]
        assert not changed, f"fix rewrote {changed} though it has no fix for the race"
        assert run_race(project)["failed"]
        return
    outcome = run_race(project)
    assert not outcome["failed"], f"still races after fix:\n{outcome['text']}\nfix said:\n{fixed.stderr.decode()}"
    modules = module_names(project)
    imported = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT, str(source_root(project)), *modules],
                              cwd=project, env=env(), capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    if not expected(name)["report"]:  # nothing to report: nothing to rewrite
        changed = [p for p in package_files(project) if not filecmp.cmp(project / p, pristine / p, shallow=False)]
        assert not changed, f"fix rewrote {changed} although nothing races"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a git checkout")
def test_f_pre_commit_with_one_changed_file_reports_what_the_other_modules_share(tmp_path):
    """pre-commit passes only the changed file; the race it holds is found through the module
    that shares the object, which pre-commit did not pass."""
    pytest.importorskip("pre_commit")
    name = "module_instance_lazy_init"
    project = copy_project(name, tmp_path)
    site = expected(name)["report"][0]
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    git_env = {**os.environ, **identity}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", *command], cwd=project, check=True, capture_output=True, env=git_env)
    changed = project / site["path"]
    changed.write_text(changed.read_text() + "\n# touched\n")
    subprocess.run(["git", "add", site["path"]], cwd=project, check=True, capture_output=True, env=git_env)
    hook_env = {**git_env, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    hook_env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "safestate-lint", "--verbose"],
                          cwd=project, capture_output=True, text=True, env=hook_env, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{site['path']}:{site['line']}:" in done.stdout, done.stdout
    assert "(app/globals.py:" in done.stdout, done.stdout  # the message says which module shares it
