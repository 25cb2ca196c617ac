"""Grade a whole class: one unit of work per student, run by a local pool or as Ray tasks.

Resumable: a student's grading ends by writing grader-result.json (atomically) with a cache key
made of the student's files, the grader's own code and version, the profile, the assignments and
the course policy. A run that was killed and started again skips every student whose key is
unchanged, and grades the rest; --force regrades everyone.

The local pool is threads: each unit's real work happens in the child processes it starts (a
pytest judge and the sandboxed probes), so a thread per unit is all the driving it needs, and a
GPU can be handed to a unit through the environment of those children.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from grader import __version__
from grader.course import CoursePolicy
from grader.results import SubmissionResult

GRADER_DIR = Path(__file__).resolve().parent
MAX_HASHED_BYTES = 1024 ** 3     # a bigger submission is keyed by its files' sizes beyond this


@dataclass(frozen=True)
class Unit:
    """One student to grade: everything a worker (local or Ray) needs, all plain data."""
    student: Path
    out: Path
    profile: str
    assignments: tuple[str, ...]
    key: str                        # cache_key() of the above, hashed once per run
    policy_path: str | None = None


@cache
def grader_fingerprint() -> str:
    """The grader's version and a hash of its own code, checks and templates."""
    digest = hashlib.sha256(__version__.encode())
    roots = [GRADER_DIR, GRADER_DIR.parent / "templates"]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".ini") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _hash_tree(digest, root: Path) -> None:
    """Names, link targets and contents, never following a link (a submission may hold loops)."""
    budget = MAX_HASHED_BYTES
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            digest.update(os.fsencode(os.path.relpath(path, root)) + b"\0")
            if os.path.islink(path):
                digest.update(b"link:" + os.fsencode(os.readlink(path)))
            elif os.path.isfile(path):
                size = os.path.getsize(path)
                if size <= budget:
                    with open(path, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            digest.update(chunk)
                    budget -= size
                else:
                    digest.update(f"size:{size}".encode())


def cache_key(student: Path, profile: str, assignments: tuple[str, ...], policy_text: str = "") -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([grader_fingerprint(), profile, list(assignments), policy_text]).encode())
    for name in assignments:
        digest.update(b"\0assignment:" + name.encode())
        if (student / name).is_dir():
            _hash_tree(digest, student / name)
    meta = student / "submission_metadata.json"
    if meta.is_file() and not meta.is_symlink():
        digest.update(b"\0meta:" + meta.read_bytes()[:1 << 20])
    return digest.hexdigest()


def cached_result(unit: Unit) -> SubmissionResult | None:
    path = unit.out / "grader-result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("cache_key") == unit.key:
            result = SubmissionResult.from_json(data)
            # an internal grader error is never final: the next run grades it again
            return None if any(a.needs_regrading for a in result.assignments) else result
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return None


def expected_seconds(unit: Unit) -> float:
    """How long a unit should take: its last grading's time where there was one (a regrade after a
    fix to a check), else the time budgets of the assignments its folder holds."""
    from grader import assignments as registry

    try:
        return float(json.loads((unit.out / "grader-result.json").read_text(encoding="utf-8"))["execution_time"])
    except (OSError, ValueError, TypeError, KeyError):
        return float(sum(registry.get(a).budget_s(unit.profile) for a in unit.assignments
                         if (unit.student / a).is_dir()))


def longest_first(units: list[Unit]) -> list[Unit]:
    """The order to start units in: the longest first, so no long one is left to run alone at the
    end while the other workers sit idle (ties keep the class's order)."""
    return sorted(units, key=expected_seconds, reverse=True)


def grade_unit(unit: Unit, env: dict | None = None) -> dict:
    """Grade one student (in this process, or in a Ray worker); returns the result as JSON data."""
    from grader.course import load_policy
    from grader.runner import grade_submission

    policy = load_policy(Path(unit.policy_path)) if unit.policy_path else CoursePolicy()
    result = grade_submission(unit.student, unit.out, unit.profile, unit.assignments, policy=policy,
                              cache_key=unit.key, env=env)
    return result.to_json()


# ---------------------------------------------------------------- executors

class LocalExecutor:
    """A pool of `workers` threads; with GPUs, each unit gets one of them (CUDA_VISIBLE_DEVICES)."""

    name = "local"

    def __init__(self, workers: int, gpus: list[int] | None = None):
        self.workers = max(1, workers)
        self.gpus = gpus or []

    def run(self, units, judges=None):
        """Yield (unit, result JSON or the exception) as each finishes. ``judges``: the run's shared
        judge services (grader/judge_service.py), one per base model and GPU."""
        free_gpus = queue.Queue()
        for gpu in self.gpus:
            free_gpus.put(gpu)

        def work(unit):
            if not self.gpus:
                return grade_unit(unit, env=judges.env() if judges else None)
            gpu = free_gpus.get()
            try:
                return grade_unit(unit, env={**(judges.env(gpu) if judges else {}), "CUDA_VISIBLE_DEVICES": str(gpu)})
            finally:
                free_gpus.put(gpu)

        workers = min(self.workers, len(self.gpus)) if self.gpus else self.workers
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(work, u): u for u in units}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    unit = pending.pop(future)
                    exc = future.exception()
                    yield unit, exc if exc else future.result()


class RayExecutor:
    """The same units as Ray tasks: on a cluster (address) or a local Ray. Submissions and the
    output folder must be on a filesystem every node sees (paths are passed, not files)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, gpus_per_unit: float = 0):
        import ray

        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": _worker_env()})
        self.ray = ray
        # Each unit drives a 2-thread sandbox at a time: reserve two CPUs, or one GPU under a GPU profile.
        self.options = {"num_gpus": gpus_per_unit} if gpus_per_unit else {"num_cpus": 2}

    def run(self, units, judges=None):
        """``judges`` is not used: a Ray task may run on another node, so each unit's judge loads its
        own base models there."""
        ray = self.ray
        task = ray.remote(grade_unit).options(**self.options, max_retries=0)
        pending = {task.remote(u): u for u in units}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                unit = pending.pop(ref)
                try:
                    yield unit, ray.get(ref)
                except Exception as exc:  # a task error: reported for that student, the class goes on
                    yield unit, exc


def _worker_env() -> dict:
    """What a Ray worker needs to grade like this process: the fixtures, the timeouts, the limits."""
    keep = ("GRADER_", "PATH")
    return {k: v for k, v in os.environ.items() if k.startswith(keep)}


# a unit's peak under the cpu profile, measured by benchmarks/grade_class.py: ~1.4 GiB (the judge and
# qwen2_lora's two sandboxes at once, or a DeepSpeed launch); 2 GiB leaves room
UNIT_MEMORY_BYTES = 2 * 1024 ** 3


def default_workers(cpu_threads: int = 2) -> int:
    """One unit per two cores (each sandbox runs torch with two threads), and no more units than
    the memory available now holds at a unit's peak."""
    by_cores = max(1, (os.cpu_count() or 1) // cpu_threads)
    return max(1, min(by_cores, available_memory() // UNIT_MEMORY_BYTES))


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, in bytes (a large number where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 50


def visible_gpus() -> list[int]:
    """The GPUs this machine offers (CUDA_VISIBLE_DEVICES, else nvidia-smi's: grader/gpu.py), without importing torch."""
    from grader.gpu import GpuError, list_gpus

    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [int(g) for g in listed.split(",") if g.strip().isdigit()]
    try:
        return [gpu.index for gpu in list_gpus()]
    except GpuError:
        return []


def make_executor(kind: str, profile_device: str, workers: int | None = None, address: str | None = None):
    """The executor a class run asked for. Under a GPU profile: one unit per GPU at a time."""
    uses_gpu = profile_device.startswith("cuda")
    if kind == "ray":
        return RayExecutor(address=address, num_cpus=workers, gpus_per_unit=1 if uses_gpu else 0)
    if uses_gpu:
        gpus = visible_gpus()
        if not gpus:
            raise SystemExit("error: this profile needs a GPU and none is visible / 此评分配置需要 GPU")
        return LocalExecutor(workers or len(gpus), gpus=gpus)
    return LocalExecutor(workers or default_workers())


# ---------------------------------------------------------------- progress

class Progress:
    """done/total, failures and the time left: a bar on a terminal, plain lines otherwise (CI)."""

    def __init__(self, total: int, reused: int, stream=None):
        self.total, self.reused, self.done, self.failures = total, reused, reused, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=reused, unit="student", file=self.stream,
                            desc="grading / 评分")

    def update(self, student: str, summary: str, failed: bool) -> None:
        self.done += 1
        self.failures += failed
        if self.bar is not None:
            self.bar.set_postfix_str(f"failures {self.failures}, last {student}")
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        left = elapsed / (self.done - self.reused) * (self.total - self.done)
        print(f"[{self.done}/{self.total}] {student}: {summary} | failures {self.failures} | "
              f"about {left:.0f} s left", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------- the class run

def shared_judges(profile_name: str, assignments: tuple[str, ...]):
    """The judge services a class run shares between its students: one per base model the assignments'
    judges evaluate (their declarations' judge_models), started when a unit first needs one."""
    from grader import assignments as registry
    from grader.judge_service import SharedJudges
    from grader.profiles import get_profile

    profile = get_profile(profile_name)
    models = {m: profile.model(m) for a in assignments for m in registry.get(a).judge_models}
    return SharedJudges(models, profile.device, profile.dtype)


def find_students(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and not p.is_symlink())


def grade_class(folder: Path, out_dir: Path, profile_name: str = "cpu",
                assignments: tuple[str, ...] | None = None, executor=None, force: bool = False,
                policy_path: Path | None = None, stream=None) -> list[SubmissionResult]:
    """Grade each student folder in ``folder`` into out_dir/<student>/, then the class pages."""
    from grader.course import load_policy
    from grader.report import render_class, write_grades_csv

    from grader import assignments as registry

    assignments = assignments or registry.names()
    policy = load_policy(policy_path)
    executor = executor or LocalExecutor(default_workers())
    stream = stream or sys.stderr
    units = [Unit(student=s, out=out_dir / s.name, profile=profile_name, assignments=assignments,
                  key=cache_key(s, profile_name, assignments, policy.text),
                  policy_path=str(policy_path) if policy_path else None)
             for s in find_students(folder)]
    results: dict[str, SubmissionResult] = {}
    todo = []
    for unit in units:
        cached = None if force else cached_result(unit)
        if cached is not None:
            results[unit.student.name] = cached
        else:
            todo.append(unit)
    if results:
        print(f"resuming: {len(results)} of {len(units)} already graded with the same files and grader "
              f"(--force regrades) / 已评分的提交将被跳过", file=stream, flush=True)
    errors: dict[str, str] = {}
    progress = Progress(len(units), len(results), stream)
    judges = shared_judges(profile_name, assignments) if todo and executor.name == "local" else None
    try:
        for unit, outcome in executor.run(longest_first(todo), judges):
            name = unit.student.name
            if isinstance(outcome, BaseException):
                errors[name] = f"{type(outcome).__name__}: {outcome}"
                progress.update(name, f"grader error: {errors[name][:200]}", failed=True)
                continue
            result = SubmissionResult.from_json(outcome)
            results[name] = result
            failed = any(a.error for a in result.assignments)
            progress.update(name, f"{result.score:g}/{result.max_score:g} ({result.execution_time:.0f} s)", failed)
    finally:
        progress.close()
        if judges is not None:
            for model, stats in judges.stats().items():
                print(f"judge: {model}: {stats['loads']} base load(s) for {stats['requests']} requests, "
                      f"{stats['evaluations']} with a student's adapter / 基座模型加载 {stats['loads']} 次",
                      file=stream, flush=True)
            judges.close()
    ordered = [results[u.student.name] for u in units if u.student.name in results]
    render_class(ordered, out_dir / "index.html", errors=errors)
    write_grades_csv(ordered, out_dir / "grades.csv")
    return ordered
