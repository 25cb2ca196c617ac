"""Find the cheapest grading profile that still grades right: grade the reference and every honest
submission of an assignment (tests/assignments/<assignment>/honest/) under candidate training overrides, and print for each
candidate the training probe's seconds and which entries lose a point they keep today.

    .venv/bin/python benchmarks/floor_sweep.py qwen2_lora --repeat 5 '{"max_steps": 90}' '{"max_steps": 180}'
    .venv/bin/python benchmarks/floor_sweep.py minicpm_deepspeed '{"modes": {"lora": {"num_train_epochs": 50}}}'

Each candidate is a JSON object merged in depth into the profile's overrides (through
GRADER_SWEEP_OVERRIDES, which only this script sets). Fewer steps can only make a submission learn
less: a broken submission that learns nothing keeps failing, so the honest ones decide the floor;
the full test suite then holds every broken, honest and hostile submission to its exact score.
Grade each entry several times (--repeat): the answers are sampled with seeds drawn fresh at every
grading, so a profile at the edge passes one grading and fails the next (measured: qwen2_lora at 90
steps of batch 4 lost a point in one grading of twelve).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.runner import grade_submission  # noqa: E402
from tests.conftest import corpus, honest_entry, honest_submission, make_submission  # noqa: E402



def entries(assignment: str, root: Path) -> dict[str, tuple[Path, int]]:
    """name -> (submission folder, its expected score)."""
    found = {"reference": (make_submission(root / "reference", assignment=assignment), 100)}
    for name in sorted(corpus("honest")):
        if honest_entry(name)["assignment"] == assignment:
            found[name] = (honest_submission(name, root / name), honest_entry(name)["score"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("candidates", nargs="+", help="JSON objects merged into the profile's overrides")
    parser.add_argument("--only", help="comma-separated entry names (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="gradings of each entry per candidate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
        subs = entries(args.assignment, Path(tmp) / "subs")
        if args.only:
            subs = {k: v for k, v in subs.items() if k in args.only.split(",")}
        for candidate in args.candidates:
            json.loads(candidate)   # a typo fails here, not in every grading
            os.environ["GRADER_SWEEP_OVERRIDES"] = candidate
            print(f"\n{candidate}", flush=True)
            walls, wrong = [], []
            for name, (sub, expected) in [item for item in subs.items() for _ in range(args.repeat)]:
                started = time.perf_counter()
                result = grade_submission(sub, Path(tmp) / "out" / name, assignments=(args.assignment,))
                wall = time.perf_counter() - started
                walls.append(wall)
                graded = result.assignments[0]
                probes = {m: round(p["wall"], 1) for m, p in graded.timings.get("probes", {}).items()}
                lost = [c.name for c in graded.checks if c.status != "passed"]
                ok = graded.score == expected
                wrong += [] if ok else [name]
                print(f"  {name:<40} {graded.score:>5g}/{expected:<4} {'ok ' if ok else 'LOST'} {wall:6.1f} s  "
                      f"probes {probes}" + (f"  not passed: {lost}" if lost else ""), flush=True)
                for c in graded.checks if not ok else ():
                    if c.status != "passed":
                        print(f"      {c.name}: {c.output[:400]!r}", flush=True)
            print(f"  => {len(walls) - len(wrong)}/{len(walls)} gradings keep their score; mean {sum(walls) / len(walls):.1f} s"
                  + (f"; wrong: {wrong}" if wrong else ""), flush=True)


if __name__ == "__main__":
    main()
