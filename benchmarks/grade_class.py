"""Wall time of a class run: N synthetic submissions (copies of examples/submissions), graded with
1 worker, with 2, and through a local Ray; then a resumed run, which grades nothing.

    .venv/bin/python benchmarks/grade_class.py [--students N] [--assignment qwen2_chat] [--no-ray]

Prints seconds per submission for each way and the speed-ups, measured in this one run. On a
2-core machine two workers share the cores (each sandbox uses two threads), so expect well under 2x.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.classrun import LocalExecutor, RayExecutor, grade_class  # noqa: E402

EXAMPLES = REPO / "examples" / "submissions"


def make_class(root: Path, n: int, assignments: tuple[str, ...]) -> Path:
    sources = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    for i in range(n):
        src = sources[i % len(sources)]
        for a in assignments:
            shutil.copytree(src / a, root / f"student{i:03d}" / a)
    return root


def timed(label: str, n: int, run) -> float:
    started = time.perf_counter()
    results = run()
    wall = time.perf_counter() - started
    assert len(results) == n, f"{label}: {len(results)} of {n} graded"
    print(f"  {label:<22} {wall:7.1f} s   {wall / n:6.2f} s per submission", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--assignment", action="append", help="default: qwen2_chat")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    assignments = tuple(args.assignment or ["qwen2_chat"])
    n = args.students
    quiet = open("/dev/null", "w")
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        klass = make_class(tmp / "class", n, assignments)
        print(f"{n} submissions ({', '.join(assignments)}), copies of {EXAMPLES.relative_to(REPO)}:")

        def local(workers, out):
            return lambda: grade_class(klass, tmp / out, assignments=assignments, stream=quiet,
                                       executor=LocalExecutor(workers))

        one = timed("local, 1 worker", n, local(1, "w1"))
        two = timed("local, 2 workers", n, local(2, "w2"))
        resumed = timed("resumed (no changes)", n, local(2, "w2"))
        print(f"  speed-up 2 workers vs 1: {one / two:.2f}x; a resumed run takes {resumed:.2f} s")
        if not args.no_ray:
            import ray
            executor = RayExecutor(num_cpus=4)
            try:
                ray_wall = timed("ray (local, 2 at once)", n, lambda: grade_class(
                    klass, tmp / "ray", assignments=assignments, stream=quiet, executor=executor))
            finally:
                ray.shutdown()
            print(f"  ray vs local 2 workers: {ray_wall / two:.2f}x the wall time")


if __name__ == "__main__":
    main()
