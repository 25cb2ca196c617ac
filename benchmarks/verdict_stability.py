"""Do verdicts depend on load, worker count or thread share? Grade copies of the reference (and, with
--honest, the honest corpus, tests/assignments/*/honest/) as one class with the default workers, while busy processes
hog the cores, several rounds, and count the checks whose verdict differs from the expected one.

    .venv/bin/python benchmarks/verdict_stability.py [--copies N] [--rounds R] [--hog N] [--honest]
                                                     [--assignment minicpm_deepspeed --assignment qwen2_lora]

Each round is one `grader run CLASS --out DIR --force` (the class run: default workers, each sandbox's
share of the cores). Expected: the reference passes every check; an honest entry passes every check but
the ones its entry.toml lists as `failed`. A grader error (status "error") counts as a change. Prints the
gradings (a grading: one student's assignment, graded once), each check's changes and the total. The
goal (issue 24): 0 changes in 100 gradings.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.assignments import names  # noqa: E402
from tests.conftest import corpus, honest_entry, honest_submission  # noqa: E402


def hog() -> None:
    while True:
        pass


def build_class(root: Path, copies: int, assignments: list[str], honest: bool) -> dict[str, set[str]]:
    """The class under root: {student: the checks expected to fail} (only graded assignments count)."""
    expected = {}
    for i in range(1, copies + 1):
        for name in assignments:
            shutil.copytree(REPO / "reference" / name, root / f"ref{i:02d}" / name,
                            ignore=shutil.ignore_patterns("__pycache__", "output"))
        expected[f"ref{i:02d}"] = set()
    if honest:
        for name in sorted(corpus("honest")):
            if honest_entry(name)["assignment"] in assignments:
                student = f"honest_{name}"
                honest_submission(name, root / student)   # root/student/<assignment>
                expected[student] = set(honest_entry(name).get("failed", []))
    return expected


def verdicts(out: Path, student: str) -> dict[str, str]:
    """{assignment/check: status} of one student's grading (grader-result.json, grader/results.py)."""
    data = json.loads((out / student / "grader-result.json").read_text(encoding="utf-8"))
    return {f"{a['name']}/{c['name']}": c["status"] for a in data["assignments"] for c in a["checks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the reference in the class")
    parser.add_argument("--rounds", type=int, default=1, help="class runs")
    parser.add_argument("--hog", type=int, default=1, help="busy processes running meanwhile")
    parser.add_argument("--honest", action="store_true", help="add the honest corpus's entries to the class")
    parser.add_argument("--assignment", action="append", help="only these (repeatable; default: all)")
    args = parser.parse_args()
    assignments = args.assignment or list(names())
    changes, gradings, checks = collections.Counter(), 0, collections.Counter()
    hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(args.hog)]
    for p in hogs:
        p.start()
    try:
        with tempfile.TemporaryDirectory(prefix="stability-") as tmp:
            klass, out = Path(tmp) / "class", Path(tmp) / "out"
            klass.mkdir()
            expected = build_class(klass, args.copies, assignments, args.honest)
            for rnd in range(1, args.rounds + 1):
                started = time.perf_counter()
                cmd = [sys.executable, "-m", "grader.cli", "run", str(klass), "--out", str(out), "--force"]
                cmd += [x for name in assignments for x in ("--assignment", name)]
                proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"grader run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                changed = 0
                for student, failing in expected.items():
                    graded = set()
                    for check, status in verdicts(out, student).items():
                        # only what the student handed in: an honest entry holds one assignment, and the
                        # class run grades the others as missing
                        if check.split("/")[0] not in assignments or not (klass / student / check.split("/")[0]).is_dir():
                            continue
                        graded.add(check.split("/")[0])
                        checks[check] += 1
                        if (status == "passed") == (check.split("/")[1] in failing) or status == "error":
                            changes[check] += 1
                            changed += 1
                            print(f"  round {rnd}: {student} {check}: {status}", flush=True)
                    gradings += len(graded)
                print(f"round {rnd}: {len(expected)} students in {time.perf_counter() - started:.0f} s, "
                      f"{changed} changed verdicts", flush=True)
    finally:
        for p in hogs:
            p.kill()
    print(f"gradings: {gradings} (one student's assignment, graded once; assignments {', '.join(assignments)}; "
          f"hog {args.hog})")
    for check in sorted(checks):
        print(f"  {check}: {changes[check]} changed of {checks[check]}")
    print(f"changed verdicts: {sum(changes.values())} of {sum(checks.values())}")


if __name__ == "__main__":
    main()
