#!/usr/bin/env python3
"""Score a checkout of safestate-lint against the fixed real-world races in races.json.

usage: python bench/realworld/fixcommits/score.py --checkout PATH [--mirrors /work/.mirror]
                                                  [--json OUT] [--keep DIR] [--timeout S]

For every race: the BEFORE tree (parent of the fix) and the FIX tree of the repo are
extracted once per (repo, commit) with `git --git-dir=MIRROR archive COMMIT | tar -x`,
and `python -m safestate_lint check --no-cache --exit-zero --format json PACKAGE` runs
once per (repo, commit, package) with cwd = the extracted repo root and
PYTHONPATH=PATH (the checkout being measured).

  FOUND    a finding in the before tree whose path is the race's `path` and whose
           `line` lies within `lines` (inclusive);
  FLAGGED  a finding in the fix tree whose path is must_not_report.path and whose
           `line` lies within must_not_report.lines.

The mirror of a race is races.json's `mirror` field if it exists, else
MIRRORS/OWNER+NAME/repo.  Only stdlib.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def mirror_of(race, mirrors):
    m = race.get("mirror")
    if m and os.path.isdir(m) and mirrors is None:
        return m
    root = mirrors or "/work/.mirror"
    cand = os.path.join(root, race["repo"].replace("/", "+"), "repo")
    if os.path.isdir(cand):
        return cand
    if m and os.path.isdir(m):
        return m
    raise SystemExit(f"no mirror for {race['repo']} (looked at {cand})")


def _archive(mirror, commit, into, paths=()):
    archive = subprocess.Popen(["git", "--git-dir", mirror, "archive", commit] + list(paths),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    tar = subprocess.run(["tar", "-x", "-C", into], stdin=archive.stdout, stderr=subprocess.DEVNULL)
    archive.stdout.close()
    return archive.wait() == 0 and tar.returncode == 0


def _blobwise(mirror, commit, into):
    """Fallback for snapshots that lack some blobs (large files): write every blob that is there."""
    listing = subprocess.run(["git", "--git-dir", mirror, "ls-tree", "-r", "-z", commit],
                             capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
    missing = 0
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind != "blob" or mode == "120000":
            continue
        blob = subprocess.run(["git", "--git-dir", mirror, "cat-file", "blob", sha], capture_output=True)
        if blob.returncode != 0:
            missing += 1
            continue
        dest = os.path.join(into, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as fh:
            fh.write(blob.stdout)
    return missing


def extract(mirror, commit, into):
    """The tree of COMMIT under INTO (extracted once; reused if already there)."""
    if os.path.isdir(into):
        return into
    tmp = into + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if not _archive(mirror, commit, tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        missing = _blobwise(mirror, commit, tmp)
        print(f"  .. {os.path.basename(into)}: git archive failed; extracted blob by blob "
              f"({missing} blobs absent from the snapshot)", file=sys.stderr)
    os.rename(tmp, into)
    return into


def norm(path, root):
    if os.path.isabs(path):
        path = os.path.relpath(path, root)
    path = path.replace(os.sep, "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def run_lint(checkout, root, package, timeout):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(checkout) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "safestate_lint", "check", "--no-cache", "--exit-zero",
           "--format", "json", package]
    try:
        p = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timeout after {timeout}s"
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError as exc:
        data = None
    if data is None:
        return None, f"rc={p.returncode}, no JSON: {p.stderr.strip()[-400:]}"
    if p.returncode != 0:
        # e.g. files of the package that are Python 2 only: the rest is still checked
        first = (p.stderr.strip().splitlines() or [""])[0]
        print(f"  .. {os.path.basename(root)}: rc={p.returncode} ({len(p.stderr.strip().splitlines())} "
              f"stderr lines, first: {first[:160]})", file=sys.stderr)
    if isinstance(data, dict):
        data = data.get("findings") or data.get("results") or []
    for f in data:
        f["path"] = norm(f.get("path", ""), root)
    return data, None


def parses(root, path):
    """Whether PATH of the extracted tree compiles as Python 3 (else no linter can report in it)."""
    try:
        with open(os.path.join(root, path), "rb") as fh:
            compile(fh.read(), path, "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, OSError):
        return False


def hits(findings, path, lines):
    lo, hi = lines
    return [f for f in findings or [] if f.get("path") == path and lo <= int(f.get("line", -1)) <= hi]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", required=True, help="checkout of safestate-lint to measure")
    ap.add_argument("--mirrors", default=None, help="root of the git mirrors (default: races.json 'mirror', else /work/.mirror)")
    ap.add_argument("--labels", default=os.path.join(HERE, "races.json"))
    ap.add_argument("--json", dest="json_out", default=None, help="write per-race results here")
    ap.add_argument("--keep", default=None, help="extract trees here and keep them (default: a temp dir, removed)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per linter run")
    args = ap.parse_args(argv)

    races = json.load(open(args.labels, encoding="utf-8"))
    work = args.keep or tempfile.mkdtemp(prefix="fixcommits-")
    os.makedirs(work, exist_ok=True)
    lint_cache = {}
    head = subprocess.run(["git", "-C", args.checkout, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head and os.path.realpath(subprocess.run(["git", "-C", args.checkout, "rev-parse", "--show-toplevel"],
                                                capture_output=True, text=True).stdout.strip()) != os.path.realpath(args.checkout):
        head = ""  # the checkout is not a git work tree's top (e.g. an exported tree inside another repo)
    import hashlib
    checkout_id = (head[:12] if head else "nogit" + hashlib.sha1(os.path.abspath(args.checkout).encode()).hexdigest()[:8]) + ("-dirty" if subprocess.run(
        ["git", "-C", args.checkout, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True).stdout.strip() else "")

    def findings(race, commit):
        key = (race["repo"], commit, race["package"])
        if key not in lint_cache:
            mirror = mirror_of(race, args.mirrors)
            root = extract(mirror, commit, os.path.join(work, race["repo"].replace("/", "+") + "@" + commit[:12]))
            cache = None
            if args.keep:
                cache = os.path.join(work, "lint-" + checkout_id + "-" + os.path.basename(root) + "-"
                                     + race["package"].replace("/", "_") + ".json")
            if cache and os.path.exists(cache):
                data, err = json.load(open(cache, encoding="utf-8")), None
            else:
                data, err = run_lint(args.checkout, root, race["package"], args.timeout)
                if cache and data is not None:
                    json.dump(data, open(cache, "w", encoding="utf-8"))
            if err:
                print(f"  !! {race['repo']}@{commit[:10]} {race['package']}: {err}", file=sys.stderr)
            lint_cache[key] = (data, err, root)
        return lint_cache[key]

    results = []
    try:
        for race in races:
            before, berr, broot = findings(race, race["before_commit"])
            fixed, ferr, froot = findings(race, race["fix_commit"])
            found = hits(before, race["path"], race["lines"])
            mnr = race["must_not_report"]
            flagged = hits(fixed, mnr["path"], mnr["lines"])
            results.append({
                "id": race["id"], "repo": race["repo"], "shape": race["shape"],
                "found": bool(found), "flagged": bool(flagged),
                "found_codes": sorted({f.get("code") for f in found}),
                "flagged_codes": sorted({f.get("code") for f in flagged}),
                "error": berr or ferr,
                "unparsed": not parses(broot, race["path"]),
                "before_findings_in_file": len([f for f in before or [] if f.get("path") == race["path"]]),
            })
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    n = len(results)
    print(f"{'id':40} {'shape':22} {'found':6} {'flagged':8} codes")
    for r in results:
        codes = ",".join(r["found_codes"]) + ("" if not r["flagged_codes"] else " | fix: " + ",".join(r["flagged_codes"]))
        note = f"  [error: {r['error']}]" if r["error"] else ""
        if r["unparsed"]:
            note += "  [the before file is not Python 3: no linter can report there]"
        print(f"{r['id']:40} {r['shape']:22} {'yes' if r['found'] else 'no':6} {'yes' if r['flagged'] else 'no':8} {codes}{note}")
    nf = sum(r["found"] for r in results)
    nfl = sum(r["flagged"] for r in results)
    print()
    print(f"found:   {nf}/{n}")
    print(f"flagged: {nfl}/{n}")
    unparsed = [r for r in results if r["unparsed"]]
    if unparsed:
        print(f"found among Python 3 sources: {nf}/{n - len(unparsed)} "
              f"({len(unparsed)} race(s) in files that do not parse as Python 3)")
    errors = sum(1 for r in results if r["error"])
    if errors:
        print(f"races whose linter run failed: {errors}")
    print()
    print(f"{'shape':22} {'N':>3} {'found':>6} {'flagged':>8}")
    by = collections.defaultdict(list)
    for r in results:
        by[r["shape"]].append(r)
    for shape, rs in sorted(by.items(), key=lambda kv: -len(kv[1])):
        print(f"{shape:22} {len(rs):>3} {sum(x['found'] for x in rs):>6} {sum(x['flagged'] for x in rs):>8}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump({"found": nf, "flagged": nfl, "n": n, "races": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
