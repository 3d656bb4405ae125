"""Red-team runner for safestate-lint `fix` (issue 24).

For each tests/redteam24/rt_*.py program: copy it to a temporary directory, run it before
the fix, run `python -m safestate_lint fix` on the copy, run the fixed program three times,
then `check` the fixed file, and give a verdict:

  unchanged     fix changed nothing
  correct       changed, runs, same output every time, check reports nothing new
                (or only findings left with a 'no automatic fix' reason)
  left          some findings left with a reason, and the program still correct
  WRONG-hang    a run of the fixed program timed out
  WRONG-output  different output, or an exception / non-zero exit
  WRONG-race-left  the program's own race probe (run with RT24_PROBE=1, forcing the
                interleaving with a trace hook) still loses the update after the fix
  WRONG-silent  wrong (hang or output) AND `check` is silent on the fixed file

A measurement tool: it always exits 0.  A program can ask for extra `fix` options with a line `# rt24-fix-args: OPTIONS`.  Usage:

    python tests/redteam24/run_redteam.py [--json OUT] [--timeout S] [PROGRAM ...]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS_AFTER = 3


def run_program(path: Path, timeout: float, probe: bool = False) -> tuple[str, str]:
    """Return (status, output): status is 'ok', 'timeout' or 'error'.

    The program runs in its own session, so forked children that hang are killed with it
    (by its process group id) when the run times out or ends.
    """
    proc = subprocess.Popen(
        [sys.executable, str(path)],
        cwd=str(path.parent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "RT24_PROBE": "1"} if probe else {k: v for k, v in os.environ.items() if k != "RT24_PROBE"},
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        return "timeout", out or ""
    _kill_group(proc.pid)
    if proc.returncode != 0:
        tail = err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return "error", out + f"!! exit {proc.returncode}: {tail[0]}"
    return "ok", out


def _kill_group(pgid: int) -> None:
    """Kill what is left of the program's own process group (hung forked children)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def lint(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "safestate_lint", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_FINDING = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<code>SST\d+) (?P<msg>.*)$")


def findings(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        m = _FINDING.match(line.strip())
        if m:
            out.append((m["code"], m["msg"]))
    return out


def fix_args(source: str) -> list[str]:
    """Extra `fix` options a program asks for with a `# rt24-fix-args: ...` line
    (e.g. the --assume-single-event-loop an asyncio program's left finding recommends)."""
    m = re.search(r"^# rt24-fix-args:\s*(.*?)(?:\s+\(.*\))?$", source, re.M)
    return m.group(1).split() if m else []


def evaluate(src: Path, timeout: float) -> dict:
    rec: dict = {"program": src.name}
    with tempfile.TemporaryDirectory(prefix="rt24-") as tmp:
        work = Path(tmp) / src.name
        shutil.copyfile(src, work)
        t0 = time.monotonic()
        before_status, before_out = run_program(work, timeout)
        rec["before_seconds"] = round(time.monotonic() - t0, 2)
        rec["before"] = before_out.strip()
        rec["before_status"] = before_status
        check_before = lint(["check", "--no-cache", str(work)])
        rec["findings_before"] = [f"{c} {m}" for c, m in findings(check_before.stdout)]
        if before_status != "ok":
            rec["verdict"] = "BROKEN-before"
            return rec
        original = work.read_text()
        has_probe = "RT24_PROBE" in original
        if has_probe:
            rec["probe_before"] = run_program(work, timeout, probe=True)[1].strip()
        extra = fix_args(original)
        if extra:
            rec["fix_args"] = extra
        fix = lint(["fix", "--no-cache", *extra, str(work)])
        rec["fix_summary"] = (fix.stderr.strip().splitlines() or [""])[-1]
        rec["fix_stderr"] = fix.stderr.strip()
        fixed = work.read_text()
        rec["changed"] = fixed != original
        if not rec["changed"]:
            rec["verdict"] = "unchanged"
            rec["after"] = []
            return rec
        rec["fixed_source"] = fixed
        afters = []
        statuses = []
        for _ in range(RUNS_AFTER):
            st, out = run_program(work, timeout)
            statuses.append(st)
            afters.append(out.strip())
            if st == "timeout":
                break
        rec["after"] = afters
        rec["after_status"] = statuses
        if has_probe and "timeout" not in statuses:
            rec["probe_after"] = run_program(work, timeout, probe=True)[1].strip()
        check_after = lint(["check", "--no-cache", str(work)])
        left = findings(check_after.stdout)
        rec["findings_after"] = [f"{c} {m}" for c, m in left]
        # what the fixer said it left, with a reason
        left_reasons = [ln for ln in fix.stderr.splitlines() if re.search(r"\bSST\d+\b", ln)]
        rec["left_reported"] = left_reasons
        silent = not left
        if "timeout" in statuses:
            wrong = "WRONG-hang"
        elif any(s != "ok" for s in statuses) or any(a != rec["before"] for a in afters):
            wrong = "WRONG-output"
        elif has_probe and "probe race" in rec.get("probe_after", "") and "probe race" in rec["probe_before"]:
            wrong = "WRONG-race-left"
        else:
            wrong = None
        if wrong:
            rec["verdict"] = "WRONG-silent" if silent else wrong
            rec["wrong_kind"] = wrong
            return rec
        before_keys = {(c, m) for c, m in findings(check_before.stdout)}
        new = [f for f in left if f not in before_keys]
        rec["new_findings"] = [f"{c} {m}" for c, m in new]
        if not left:
            rec["verdict"] = "correct"
        elif new and not left_reasons:
            # new findings the fixer did not own up to: the fix created them
            rec["verdict"] = "correct+new-findings"
        else:
            rec["verdict"] = "left"
        return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("programs", nargs="*", help="program files (default: every rt_*.py here)")
    ap.add_argument("--json", metavar="OUT", help="write the verdicts as JSON to OUT")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per program run (default 10)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the details of each wrong verdict")
    args = ap.parse_args(argv)
    progs = [Path(p).resolve() for p in args.programs] or sorted(HERE.glob("rt_*.py"))
    results = []
    width = max((len(p.name) for p in progs), default=10)
    print(f"{'program':<{width}}  {'verdict':<24} fix summary")
    print("-" * (width + 90))
    for p in progs:
        try:
            rec = evaluate(p, args.timeout)
        except Exception as exc:  # a measurement tool: never stop on one program
            rec = {"program": p.name, "verdict": "RUNNER-error", "error": repr(exc)}
        results.append(rec)
        verdict = rec["verdict"]
        if verdict == "WRONG-silent":
            verdict += f" ({rec['wrong_kind'].split('-', 1)[1]})"
        print(f"{rec['program']:<{width}}  {verdict:<24} {rec.get('fix_summary', rec.get('error', ''))}",
              flush=True)
        if args.verbose and rec["verdict"] == "unchanged":
            for ln in rec.get("fix_stderr", "").splitlines()[:-1]:
                print(f"    {ln}")
        if args.verbose and rec["verdict"].startswith(("WRONG", "BROKEN")):
            print(f"    before: {rec.get('before')!r}")
            if "probe_before" in rec:
                print(f"    probe:  {rec['probe_before']!r} -> {rec.get('probe_after')!r}")
            for a in rec.get("after", []):
                print(f"    after:  {a!r}")
            for f in rec.get("findings_after", []):
                print(f"    left:   {f}")
    totals: dict[str, int] = {}
    for r in results:
        totals[r["verdict"]] = totals.get(r["verdict"], 0) + 1
    print()
    print("totals")
    for k in sorted(totals):
        print(f"  {k:<20} {totals[k]}")
    print(f"  {'programs':<20} {len(results)}")
    wrong = sum(v for k, v in totals.items() if k.startswith("WRONG"))
    print(f"  {'wrong (all kinds)':<20} {wrong}")
    if args.json:
        Path(args.json).write_text(json.dumps({"totals": totals, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
