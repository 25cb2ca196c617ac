"""The time limits, from measurements: grade the reference and every honest submission as one class
(2 workers on 2 cores by default: each sandbox runs one thread; cold interpreters, as the container
mode starts them: GRADER_WARM=0), then print, for each declared limit,
the slowest run (or step within a run) it covers, who took it, the limit that gives (the slowest x
LIMIT_MARGIN, never under the floors: grader/assignments.py) and the one declared now.

    .venv/bin/python benchmarks/time_limits.py [--workers 2] [--repeat 1] [--assignment A ...]

A probe run's time is its time on the run clock (what its limit counts: the time it waited for a CPU
other programs held does not count); a step's, the seconds the probe recorded for it. Declare what this
prints as the limit's `measured` (grader/checks/<name>/assignment.py); `grader needs limits` prints the
declared ones. With --repeat R every submission is graded R times and the slowest counts.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader import assignments as registry  # noqa: E402
from grader.classrun import LocalExecutor, grade_class  # noqa: E402
from tests.conftest import corpus, honest_entry, honest_submission, make_submission  # noqa: E402


def make_class(root: Path, chosen: tuple[str, ...]) -> Path:
    for name in chosen:
        make_submission(root / "reference", assignment=name)
    for entry in sorted(corpus("honest")):
        if honest_entry(entry)["assignment"] in chosen:
            honest_submission(entry, root / entry)
    return root


def covered(name: str, limit: registry.TimeLimit) -> list[tuple[str, str | None]]:
    """(probe mode, step pattern or None for the whole run) for each thing the limit covers."""
    return [(m.split(":", 1)[0], m.split(":", 1)[1]) if ":" in m else (m, None) for m in (limit.measures or (name,))]


def slowest(results, assignment: str, name: str, limit: registry.TimeLimit) -> tuple[float, str]:
    worst, who = 0.0, "-"
    for result in results:
        for graded in result.assignments:
            if graded.name != assignment:
                continue
            probes = graded.timings.get("probes", {})
            for mode, step in covered(name, limit):
                probe = probes.get(mode) or {}
                if step is None:
                    seconds = [probe.get("ran") or 0.0]
                else:
                    pattern = re.compile(re.escape(step).replace(r"\{i\}", r"\d+") + "$")
                    seconds = [s for n, s in probe.get("steps", {}).items() if pattern.match(n)]
                if max(seconds, default=0.0) > worst:
                    worst, who = max(seconds), result.student
    return worst, who


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--assignment", action="append", choices=registry.names())
    parser.add_argument("--warm", action="store_true", help="with warm interpreters (grader/warm.py); "
                                                             "measured cold by default, as the container mode runs")
    args = parser.parse_args()
    chosen = tuple(args.assignment or registry.names())
    if not args.warm:   # the limits must hold where every interpreter starts cold (the container mode)
        os.environ["GRADER_WARM"] = "0"
    quiet = open("/dev/null", "w")
    results = []
    with tempfile.TemporaryDirectory(prefix="time-limits-") as tmp:
        klass = make_class(Path(tmp) / "class", chosen)
        students = len(list(klass.iterdir()))
        for i in range(args.repeat):
            results += grade_class(klass, Path(tmp) / f"out{i}", assignments=chosen, stream=quiet,
                                   executor=LocalExecutor(args.workers))
    print(f"{students} submissions (the reference and the honest corpus), {args.workers} workers, "
          f"graded {args.repeat} time(s); margin x{registry.LIMIT_MARGIN}, floors {registry.LIMIT_FLOOR_S} s "
          f"(a run) and {registry.STEP_FLOOR_S} s (within a run)")
    print(f"{'assignment':<18} {'limit':<10} {'covers':<22} {'slowest s':>9} {'by':<28} {'gives s':>7} "
          f"{'declared':>8} {'(measured)':>10}")
    off = [(r.student, a.name, a.score, want) for r in results for a in r.assignments
           for want in [100 if r.student == "reference" else honest_entry(r.student)["score"]]
           if a.name in chosen and (r.student == "reference" or honest_entry(r.student)["assignment"] == a.name)
           and a.score != want]
    print("every submission at its expected score" if not off else
          "NOT at the expected score (the limits below are then no measure): " +
          "; ".join(f"{s} {a} {got} (expected {want})" for s, a, got, want in off))
    for assignment in chosen:
        for name, limit in registry.get(assignment).time_limits.items():
            worst, who = slowest(results, assignment, name, limit)
            gives = registry.TimeLimit(measured=round(worst, 1), runs=limit.runs).seconds
            flag = "" if gives == limit.seconds else "  <- differs"
            print(f"{assignment:<18} {name:<10} {','.join(limit.measures or (name,)):<22} {worst:>9.1f} {who[:28]:<28} "
                  f"{gives:>7.0f} {limit.seconds:>8.0f} {limit.measured:>10.1f}{flag}")


if __name__ == "__main__":
    main()
