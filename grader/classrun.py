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
import shlex
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from grader import __version__
from grader.course import CoursePolicy
from grader.results import SubmissionResult
from grader.sandbox import SandboxFailure
from grader.settings import current

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
    digest.update(json.dumps([grader_fingerprint(), profile, list(assignments), policy_text,
                              grading_settings()]).encode())
    for name in assignments:
        digest.update(b"\0assignment:" + name.encode())
        if (student / name).is_dir():
            _hash_tree(digest, student / name)
    meta = student / "submission_metadata.json"
    if meta.is_file() and not meta.is_symlink():
        digest.update(b"\0meta:" + meta.read_bytes()[:1 << 20])
    return digest.hexdigest()


def grading_settings() -> dict:
    """The run's settings that a verdict may depend on (grader/settings.py: the time, memory, disk
    and process limits, the models, the sandbox mode; not the threads): part of the cache key, so a
    class run resumed under other ones regrades the students they affect."""
    from grader.isolation import resolved_settings
    return resolved_settings().verdict_key()


class ClassRunError(ValueError):
    """A class run that cannot start as asked; the message names the fix."""


def previous_result(out: Path) -> SubmissionResult | None:
    """The last finished grading in out/ (grader-result.json), whatever it was graded with."""
    try:
        return SubmissionResult.from_json(json.loads((out / "grader-result.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def cached_result(unit: Unit) -> SubmissionResult | None:
    result = previous_result(unit.out)
    if result is None or result.cache_key != unit.key:
        return None
    # an internal grader error is never final: the next run grades it again
    return None if result.needs_regrading else result


def load_class(out_dir: Path) -> list[SubmissionResult]:
    """Every student's last grading under a class run's output folder, in the class's order."""
    if not out_dir.is_dir():
        raise ClassRunError(f"{out_dir} is not a folder: give the --out folder of a class run / 不是评分输出文件夹")
    results = [r for d in sorted(p for p in out_dir.iterdir() if p.is_dir()) if (r := previous_result(d))]
    if not results:
        raise ClassRunError(f"{out_dir} holds no graded students (<student>/grader-result.json): run "
                            f"`grader run SUBMISSIONS --out {out_dir}` first / 没有找到评分结果")
    return results


def expected_seconds(unit: Unit) -> float:
    """How long a unit should take: its last grading's time where there was one (a regrade after a
    fix to a check), else the measured times of the assignments its folder holds."""
    from grader import assignments as registry

    try:
        return float(json.loads((unit.out / "grader-result.json").read_text(encoding="utf-8"))["execution_time"])
    except (OSError, ValueError, TypeError, KeyError):
        return float(sum(registry.get(a).expected_s() for a in unit.assignments if (unit.student / a).is_dir()))


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

        workers = min(self.workers, len(self.gpus)) if self.gpus else self.workers
        threads = current().replace(cpu_threads=int(sandbox_threads(workers))).env()

        def work(unit):
            if not self.gpus:
                return grade_unit(unit, env={**(judges.env() if judges else {}), **threads})
            gpu = free_gpus.get()
            try:
                return grade_unit(unit, env={**(judges.env(gpu) if judges else {}), **threads,
                                             "CUDA_VISIBLE_DEVICES": str(gpu)})
            finally:
                free_gpus.put(gpu)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(work, u): u for u in units}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        unit = pending.pop(future)
                        exc = future.exception()
                        yield unit, exc if exc else future.result()
            finally:   # a run that stops (a broken sandbox) starts no more units
                for future in pending:
                    future.cancel()


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
    """What a Ray worker needs to grade like this process: the fixtures and the run's settings (GRADER_SETTINGS)."""
    keep = ("GRADER_", "PATH")
    return {k: v for k, v in os.environ.items() if k.startswith(keep)}


# a unit's peak under the cpu profile, measured by benchmarks/grade_class.py: ~1.4 GiB (the judge and
# qwen2_lora's two sandboxes at once, or a DeepSpeed launch); 2 GiB leaves room
UNIT_MEMORY_BYTES = 2 * 1024 ** 3


def default_workers() -> int:
    """One unit per core (each then gets one thread: sandbox_threads), and no more units than the
    memory available now holds at a unit's peak. Measured on 2 cores (benchmarks/grade_class.py):
    two units of one thread each grade a class faster than one unit of two threads."""
    return max(1, min(os.cpu_count() or 1, available_memory() // UNIT_MEMORY_BYTES))


def sandbox_threads(workers: int) -> str:
    """The torch/OpenMP threads each sandbox of a local class run gets: the cores shared among the
    units (GRADER_CPU_THREADS, where set, wins)."""
    return str(current().cpu_threads or max(1, (os.cpu_count() or 1) // max(1, workers)))


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
    from grader.sandbox import memory_share
    # the judge's own memory cgroup: the profile's, never the sandboxes' GRADER_MEMORY_LIMIT_MB
    return SharedJudges(models, profile.device, profile.dtype, request_s=profile.judge_request_s,
                        memory_bytes=memory_share(int(profile.memory_gib * 1024 ** 3)))


def find_students(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and not p.is_symlink())


def grade_class(folder: Path, out_dir: Path, profile_name: str = "cpu",
                assignments: tuple[str, ...] | None = None, executor=None, force: bool = False,
                policy_path: Path | None = None, stream=None, only: tuple[str, ...] = (),
                grades_format: str = "plain") -> list[SubmissionResult]:
    """Grade each student folder in ``folder`` into out_dir/<student>/, then the class pages.

    ``only``: regrade just these students; everyone else keeps their last grading as it is, so the
    dashboard, grades.csv and the similarity report stay whole."""
    from grader.course import load_policy

    from grader import assignments as registry

    assignments = assignments or registry.names()
    policy = load_policy(policy_path)
    stream = stream or sys.stderr
    students = find_students(folder)
    _refuse_unknown_names(folder, students, only, policy, stream)
    units = [Unit(student=s, out=out_dir / s.name, profile=profile_name, assignments=assignments,
                  key=cache_key(s, profile_name, assignments, policy.text),
                  policy_path=str(policy_path) if policy_path else None)
             for s in students]
    results, todo = _kept_results(units, only, force, policy, stream)
    errors = _grade_units(todo, executor or LocalExecutor(default_workers()), results, len(units),
                          profile_name, assignments, stream)
    ordered = ClassResults(results[u.student.name] for u in units if u.student.name in results)
    write_class_pages(ordered, out_dir, errors, students, assignments, grades_format, stream)
    ordered.to_regrade = sorted(set(errors) | {r.student for r in ordered if r.needs_regrading})
    if ordered.to_regrade:
        names = ",".join(ordered.to_regrade)
        print(f"grader errors, scored 0 until regraded (no fault of theirs): {', '.join(ordered.to_regrade)}; "
              f"regrade them with --only {shlex.quote(names)} / 评分器内部错误，请用 --only 重新评分这些学生",
              file=stream, flush=True)
    return ordered


def _refuse_unknown_names(folder: Path, students: list[Path], only: tuple[str, ...], policy, stream) -> None:
    """--only must name student folders; course.toml's adjustments of nobody are only a warning."""
    unknown = sorted(set(only) - {s.name for s in students})
    if unknown:
        raise ClassRunError(f"--only names no student folder in {folder}: {', '.join(unknown)} "
                            f"(names are the folders' names) / --only 中的学生不存在")
    for adjustment in policy.adjustments:
        if adjustment.student not in {s.name for s in students}:
            print(f"warning: course.toml adjusts {adjustment.student!r}, who has no folder in {folder} / "
                  f"人工调整的学生不存在", file=stream, flush=True)


def _kept_results(units: list[Unit], only: tuple[str, ...], force: bool, policy,
                  stream) -> tuple[dict[str, SubmissionResult], list[Unit]]:
    """The results this run keeps (--only: everyone else's last grading; else the cache's, unless
    --force), with course.toml's adjustments brought up to date, and the units left to grade."""
    from grader.course import apply_adjustments
    from grader.runner import write_reports

    results: dict[str, SubmissionResult] = {}
    todo, ungraded = [], []
    for unit in units:
        name = unit.student.name
        if only and name not in only:
            kept = previous_result(unit.out)
            if kept is None:
                ungraded.append(name)
            else:
                results[name] = kept
            continue
        cached = None if force or only else cached_result(unit)
        if cached is not None:
            results[name] = cached
        else:
            todo.append(unit)
    if results:
        print(f"{'kept' if only else 'resuming'}: {len(results)} of {len(units)} already graded "
              f"({'--only regrades just ' + ', '.join(only) if only else 'same files and grader; --force regrades'})"
              f" / 已评分的提交将被跳过", file=stream, flush=True)
    if ungraded:
        print(f"not graded yet, left out of this run's pages: {', '.join(ungraded)} (run without --only to grade "
              f"them) / 这些学生尚未评分", file=stream, flush=True)
    for unit in units:   # adjustments are not in the cache key: bring them up to date
        result = results.get(unit.student.name)
        if result is not None and apply_adjustments(result, policy):
            write_reports(result, unit.out)
    return results, todo


def _grade_units(todo: list[Unit], executor, results: dict[str, SubmissionResult], total: int,
                 profile_name: str, assignments: tuple[str, ...], stream) -> dict[str, str]:
    """Grade ``todo`` on the executor (the longest first, the judges shared), adding each result to
    ``results``; returns the grader's errors by student. A broken sandbox stops the run: the students
    graded before it keep their results, so a rerun resumes after them."""
    errors: dict[str, str] = {}
    progress = Progress(total, len(results), stream)
    judges = shared_judges(profile_name, assignments) if todo and executor.name == "local" else None
    broken = None
    try:
        for unit, outcome in executor.run(longest_first(todo), judges):
            name = unit.student.name
            if isinstance(outcome, SandboxFailure):
                broken = outcome
                break
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
    if broken is not None:
        raise ClassRunError(f"stopped, no student was scored by the broken sandbox: {broken} "
                            f"(graded before it: {len(results)}; they are kept and a rerun resumes)")
    return errors


class ClassResults(list):
    """A class run's results, in the class's order; ``to_regrade``: the students whose grading
    the grader itself got wrong (an internal error in a check, or a failed task)."""
    to_regrade: list[str] = []


def write_class_pages(results: list[SubmissionResult], out_dir: Path, errors: dict, students: list[Path],
                      assignments: tuple[str, ...], grades_format: str, stream) -> None:
    """index.html, grades.csv and the similarity report (which never holds up the grades)."""
    from grader.report import render_class, write_grades_csv
    from grader.similarity import write_report

    similarity = True
    try:
        write_report(students, out_dir, assignments)
    except Exception as exc:  # a report for people: its failure must not cost the class its grades
        similarity = False
        print(f"warning: no similarity report: {type(exc).__name__}: {exc} / 相似度报告生成失败", file=stream, flush=True)
    render_class(results, out_dir / "index.html", errors=errors, similarity=similarity)
    write_grades_csv(results, out_dir / "grades.csv", grades_format)
