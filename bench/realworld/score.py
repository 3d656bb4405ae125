#!/usr/bin/env python3
"""Score safestate-lint findings against the hand-labelled real-world sites.

usage: python score.py LABELS.json FINDINGS_DIR

FINDINGS_DIR holds NAME.json per project (NAME as in labels.json "projects"), each the
`safestate-lint check --format json` output of some version of the checker: a list of
findings (or an object with a "findings"/"results" list) with at least path, line,
code and message.

Matching (one finding -> at most one labelled site):
  * same project and same path (relative to the project root),
  * |finding line - site line| <= 2,
  * state: if the finding names one (the first quoted name in its message, or a
    "state"/"symbol"/"name" field), the site's state must match by its last dotted
    segment ("self._x", "Cls._x" and "_x" all match) -- any quoted name in the message
    counts, so a message naming both a lock and an attribute can match either;
  * the rule code is ignored (SST102 may have become SST103/104/105, etc.).
Ties: a finding whose message names the site's function wins, then the nearest line.
Only stdlib.
"""
import json
import os
import re
import sys

QUOTED = re.compile(r"'([^']+)'")


def last_segment(name):
    if not name:
        return None
    name = name.strip()
    name = re.sub(r"\(\)$", "", name)
    name = re.sub(r"\.(acquire|release|wait|join)$", "", name)
    return name.split(".")[-1] or None


def load_findings(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, dict):
        for key in ("findings", "results", "diagnostics", "violations"):
            if isinstance(data.get(key), list):
                return data[key]
        raise SystemExit(f"{path}: unrecognised JSON shape (keys {sorted(data)})")
    return data


def finding_names(f):
    """All names (last segments) a finding carries."""
    names = set()
    for key in ("state", "symbol", "name", "variable"):
        v = f.get(key)
        if isinstance(v, str):
            names.add(last_segment(v))
    for q in QUOTED.findall(f.get("message", "")):
        names.add(last_segment(q))
    names.discard(None)
    return names


def rel(path, root):
    p = os.path.normpath(path)
    r = os.path.normpath(root)
    if os.path.isabs(p):
        try:
            return os.path.relpath(p, r)
        except ValueError:
            return p
    return p


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    labels = json.load(open(argv[1], encoding="utf-8"))
    fdir = argv[2]
    projects = labels["projects"]
    sites = labels["sites"]
    for i, s in enumerate(sites):
        s["_id"] = i

    matched_sites = {}          # site id -> list of findings
    unlabelled = []
    missing = []
    total_findings = 0
    for name, meta in projects.items():
        fpath = os.path.join(fdir, name + ".json")
        if not os.path.exists(fpath):
            missing.append(name)
            continue
        findings = load_findings(fpath)
        total_findings += len(findings)
        psites = [s for s in sites if s["project"] == name]
        for f in findings:
            path = rel(f.get("path") or f.get("filename") or "", meta["root"])
            line = int(f.get("line") or f.get("row") or 0)
            names = finding_names(f)
            msg = f.get("message", "")
            cands = []
            for s in psites:
                if os.path.normpath(s["path"]) != path or abs(s["line"] - line) > 2:
                    continue
                st = last_segment(s.get("state"))
                if names and st and st not in names:
                    continue
                func = s.get("function") or ""
                fn_hit = bool(func) and (func in msg or func.split(".")[-1] + "()" in msg)
                cands.append((not fn_hit, abs(s["line"] - line), s["_id"]))
            if cands:
                cands.sort()
                matched_sites.setdefault(cands[0][2], []).append(f)
            else:
                unlabelled.append((name, path, line, f.get("code"), msg))

    def count(label, reported_only=True):
        return sum(1 for s in sites if s["label"] == label and s["_id"] in matched_sites)

    true_total = sum(1 for s in sites if s["label"] == "TRUE")
    true_found = count("TRUE")
    benign = count("BENIGN")
    false = count("FALSE")
    labelled_reported = true_found + benign + false
    print(f"projects scored: {len(projects) - len(missing)}/{len(projects)}"
          + (f"  (missing: {', '.join(missing)})" if missing else ""))
    print(f"findings read: {total_findings}; matched to labelled sites: "
          f"{sum(len(v) for v in matched_sites.values())}")
    print(f"TRUE found: {true_found} / {true_total}"
          f"  (of which reported_before=false: "
          f"{sum(1 for s in sites if s['label']=='TRUE' and not s['reported_before'] and s['_id'] in matched_sites)}"
          f" / {sum(1 for s in sites if s['label']=='TRUE' and not s['reported_before'])})")
    print(f"BENIGN reported: {benign} / {sum(1 for s in sites if s['label']=='BENIGN')}")
    print(f"FALSE reported: {false} / {sum(1 for s in sites if s['label']=='FALSE')}")
    if labelled_reported:
        print(f"precision among labelled reported: {true_found}/{labelled_reported} = "
              f"{true_found / labelled_reported:.1%}")
        print(f"FALSE share among labelled reported: {false}/{labelled_reported} = "
              f"{false / labelled_reported:.1%}")
    else:
        print("precision among labelled reported: n/a (nothing matched)")
    lost = [s for s in sites if s["label"] == "TRUE" and s["_id"] not in matched_sites]
    if lost:
        print(f"TRUE sites not reported ({len(lost)}):")
        for s in lost:
            tag = "" if s["reported_before"] else "  [not reported before either]"
            print(f"  {s['project']}/{s['path']}:{s['line']} {s.get('state')}{tag}")
    dup = {k: v for k, v in matched_sites.items() if len(v) > 1}
    if dup:
        print(f"sites matched by more than one finding: {len(dup)}")
        for k, v in dup.items():
            s = sites[k]
            print(f"  {s['project']}/{s['path']}:{s['line']} {s.get('state')} <- "
                  + ", ".join(f"{f.get('line')} {f.get('code')}" for f in v))
    print(f"unlabelled findings (match no labelled site): {len(unlabelled)}")
    for name, path, line, code, msg in unlabelled:
        print(f"  {name}/{path}:{line} {code} {msg[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
