"""Wall time of a class run, and where it goes: N synthetic submissions (copies of
examples/submissions: alice full marks, bob one bug, carol the blank stubs, in turn), graded with
1 worker, with 2, through a local Ray and, with --ray-nodes, on local multi-node Ray clusters;
then a resumed run, which grades nothing.

    .venv/bin/python benchmarks/grade_class.py [--students N] [--assignment A ...] [--workers 1,2]
                                               [--no-ray] [--ray-nodes 1,2,4] [--class-size 50]

Prints, all measured in this one run:
- seconds per submission and for the class with each executor, the speed-ups, and the class of
  --class-size projected from the measured per-submission time (said as such);
- that every executor gave every check the same verdict;
- per assignment (from the 1-worker run): the breakdown of a grading's wall time (start-up of the
  judge's pytest child, the student code in the sandbox, the judge's own work, teardown), each
  probe's wall and its steps' own seconds (imports, training), and the peak memory of a unit
  (the judge plus the sandboxes running at once), the figure to hold against Gradescope's 768 MB.
A local run shares the cores among its workers (each sandbox's torch gets cores / workers threads),
so on 2 cores 2 workers run two one-thread units where 1 worker runs one two-thread unit.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.assignments import names  # noqa: E402
from grader.classrun import LocalExecutor, RayExecutor, grade_class  # noqa: E402

EXAMPLES = REPO / "examples" / "submissions"
DEFAULT = tuple(names())
PHASES = ("startup", "student", "judge", "teardown")


def make_class(root: Path, n: int, assignments: tuple[str, ...]) -> Path:
    sources = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    for i in range(n):
        src = sources[i % len(sources)]
        for a in assignments:
            shutil.copytree(src / a, root / f"student{i:03d}" / a)
    return root


def verdicts(results) -> dict:
    return {(r.student, a.name, c.name): (c.status, c.score) for r in results for a in r.assignments for c in a.checks}


def timed(label: str, n: int, run) -> tuple[float, list]:
    started = time.perf_counter()
    results = run()
    wall = time.perf_counter() - started
    assert len(results) == n, f"{label}: {len(results)} of {n} graded"
    print(f"  {label:<24} {wall:7.1f} s   {wall / n:6.2f} s per submission", flush=True)
    return wall, results


def ray_cluster(nodes: int, klass: Path, out: Path, assignments, quiet, n: int):
    """The class on a multi-node Ray cluster started here (ray.cluster_utils.Cluster: each node a
    raylet of its own with 2 CPUs, so one unit at a time). On one machine the nodes share its cores:
    the wall time falls with nodes only as far as the cores go."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=2)
    try:
        executor = RayExecutor(address=cluster.address)
        return timed(f"ray cluster, {nodes} node(s)", n, lambda: grade_class(
            klass, out, assignments=assignments, stream=quiet, executor=executor))
    finally:
        ray.shutdown()
        cluster.shutdown()


def print_breakdown(results, assignments) -> None:
    print("\nwhere a grading's time goes (1 worker; mean seconds over the class):")
    print(f"  {'assignment':<20} {'total':>7} " + " ".join(f"{p:>9}" for p in PHASES)
          + f" {'grader/student':>15} {'peak MiB':>9}")
    for name in assignments:
        timings = [a.timings for r in results for a in r.assignments if a.name == name and a.timings.get("student")]
        if not timings:
            continue
        mean = {k: statistics.mean(t.get(k, 0.0) for t in timings) for k in ("total", *PHASES)}
        peak = max(t.get("peak_bytes", 0) for t in timings) / 2 ** 20
        print(f"  {name:<20} {mean['total']:7.1f} " + " ".join(f"{mean[p]:9.1f}" for p in PHASES)
              + f" {mean['total'] / mean['student']:14.2f}x {peak:9.0f}")
        modes: dict = {}
        for t in timings:
            for mode, probe in t.get("probes", {}).items():
                entry = modes.setdefault(mode, {"wall": [], "peak": [], "steps": {}})
                entry["wall"].append(probe["wall"])
                entry["peak"].append(probe.get("peak_bytes", 0) / 2 ** 20)
                for step, s in probe.get("steps", {}).items():
                    entry["steps"].setdefault(step, []).append(s)
        for mode, entry in modes.items():
            steps = ", ".join(f"{s} {statistics.mean(v):.1f}" for s, v in entry["steps"].items()
                              if statistics.mean(v) >= 0.2)
            print(f"      probe {mode:<10} {statistics.mean(entry['wall']):6.1f} s, sandbox peak "
                  f"{max(entry['peak']):5.0f} MiB" + (f"; steps: {steps}" if steps else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--assignment", action="append", help=f"default: {', '.join(DEFAULT)}")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--class-size", type=int, default=50, help="the class size to project to")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--ray-nodes", default="", help="also on local multi-node Ray clusters of these sizes, e.g. 1,2,4")
    args = parser.parse_args()
    assignments = tuple(args.assignment or DEFAULT)
    n = args.students
    quiet = open("/dev/null", "w")
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        klass = make_class(tmp / "class", n, assignments)
        print(f"{n} submissions ({', '.join(assignments)}), copies of {EXAMPLES.relative_to(REPO)} in turn:")

        def local(workers, out):
            return lambda: grade_class(klass, tmp / out, assignments=assignments, stream=quiet,
                                       executor=LocalExecutor(workers))

        walls, first, graded = {}, None, {}
        for workers in (int(w) for w in args.workers.split(",")):
            walls[workers], results = timed(f"local, {workers} worker(s)", n, local(workers, f"w{workers}"))
            graded[workers] = results
            if first is None:
                first = results
            assert verdicts(results) == verdicts(first), f"{workers} workers changed a verdict"
        last = max(walls)
        resumed, _ = timed("resumed (no changes)", n, local(last, f"w{last}"))
        if len(walls) > 1:
            print(f"  speed-up {last} workers vs {min(walls)}: {walls[min(walls)] / walls[last]:.2f}x")
        if not args.no_ray:
            import ray
            executor = RayExecutor(num_cpus=4)
            try:
                ray_wall, results = timed("ray (local, 2 at once)", n, lambda: grade_class(
                    klass, tmp / "ray", assignments=assignments, stream=quiet, executor=executor))
            finally:
                ray.shutdown()
            assert verdicts(results) == verdicts(first), "Ray changed a verdict"
            print(f"  ray vs local {last} workers: {ray_wall / walls[last]:.2f}x the wall time")
        for nodes in (int(x) for x in args.ray_nodes.split(",") if x):
            wall, results = ray_cluster(nodes, klass, tmp / f"ray{nodes}", assignments, quiet, n)
            assert verdicts(results) == verdicts(first), f"a {nodes}-node Ray cluster changed a verdict"
        print(f"  every executor gave all {len(verdicts(first))} checks the same verdicts")
        for workers, wall in walls.items():
            print(f"  projected: a class of {args.class_size} with {workers} worker(s): "
                  f"{wall / n * args.class_size / 60:5.1f} min (from the {n} measured)")
            # the spread: each submission's own grading time in that run (the workers sharing the cores)
            own = sorted(r.execution_time for r in graded[workers])
            print(f"    each submission took {own[0]:.1f}-{own[-1]:.1f} s (median {statistics.median(own):.1f}) "
                  f"with {workers} at once: a class of {args.class_size} all like the quickest "
                  f"{own[0] * args.class_size / workers / 60:.1f} min, all like the slowest "
                  f"{own[-1] * args.class_size / workers / 60:.1f} min")
        print_breakdown(first, assignments)


if __name__ == "__main__":
    main()
