"""Grade a submission: one pytest child process per assignment, over the judge's own checks.

pytest runs in a child of the judge with the checks folder as its root, so nothing in the
submission (a conftest.py, a pytest.ini, a plugin) is ever collected: student code only runs
inside the sandbox that the checks start. The child is forked from the judge zygote
(grader/judge_zygote.py: pytest and torch already imported) where it can serve, else started as
`python -m pytest`; both run the same checks the same way.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from grader import __version__
from grader import assignments as registry
from grader.course import CoursePolicy, apply_policy, submission_time
from grader.profiles import get_profile
from grader.results import AssignmentResult, CheckResult, SubmissionResult, dump
from grader.isolation import detect_mode, private_mounts_possible
from grader.sandbox import MODE_DESCRIPTIONS, SandboxFailure
from grader.isolation import resolved_settings
from grader.settings import current

CHECKS = Path(__file__).resolve().parent / "checks"


def grade_assignment(assignment_dir: Path, assignment: str, profile_name: str, log_path: Path | None = None,
                     env: dict | None = None) -> AssignmentResult:
    """``env``: extra variables for this grading's children only (a GPU: CUDA_VISIBLE_DEVICES)."""
    declared = registry.get(assignment)
    started, launched = time.monotonic(), time.time()
    with tempfile.TemporaryDirectory(prefix="grader-pytest-") as tmp:
        results_path = Path(tmp) / "checks.json"
        argv = [sys.executable, "-m", "pytest", str(CHECKS / assignment), "-p", "grader.plugin",
                "-c", str(CHECKS / "pytest.ini"), "--rootdir", str(CHECKS), "-p", "no:cacheprovider",
                "--submission", str(assignment_dir), "--profile", profile_name, "--assignment", assignment,
                "--grader-results", str(results_path), "-q", "-rN", "--color=no"]
        # the child imports this very grader (a bundle's copy, say), not another one installed
        # the run's settings reach the child whole, as one variable (grader/settings.py)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKS.parent.parent), os.environ.get("PYTHONPATH")])),
               **current().env(), **(env or {})}
        _start_zygote(env)   # in the background: its imports and the warm server's run on two cores at once
        env.update(_warm(profile_name, env))
        # A private mount namespace: the checks mount size-capped tmpfs work folders there
        # (grader.sandbox.disk_capped), and they vanish with it even if pytest is killed.
        private = private_mounts_possible()
        if private:
            env["GRADER_PRIVATE_MOUNTS"] = "1"
        log, code, zygote = _run_pytest(argv, env, tmp, private, declared.budget_s(profile_name))
        if log_path:
            log_path.write_text(log)
        checks, adaptations, timeline, failures = _read_checks(results_path, assignment)
    if failures:   # the sandbox broke under the grading: no score from it, the run stops
        raise SandboxFailure(failures[0])
    timings = {**breakdown(timeline, launched, time.time()), "zygote": zygote}
    error = None
    if any(c.status == "error" for c in checks):
        error = ("评分器内部错误：部分检查未能评分，暂记 0 分（满分不变），助教会重新评分。 / Internal grader error: some "
                 "checks could not be graded; they score 0 (the maximum is unchanged) until the course staff regrade.")
    if not checks or code not in (0, 1):
        error = (f"评分器内部错误（pytest 退出码 {code}），请联系助教。 / Internal grader error (pytest "
                 f"exit {code}); tell the course staff.")
    if not assignment_dir.is_dir():
        error = f"缺少作业文件夹 {assignment}/ / the assignment folder {assignment}/ is missing"
    return AssignmentResult(name=assignment, checks=checks, error=error, wall_s=time.monotonic() - started,
                            adaptations=adaptations, timings=timings)


def _run_pytest(argv: list[str], env: dict, cwd: str, private: bool, budget: float) -> tuple[str, int | None, bool]:
    """(pytest's output, its exit code or None when it ran out of time, whether the zygote ran it)."""
    zygote = _zygote(env)
    if zygote is not None:
        log_file = Path(cwd) / "pytest.log"
        code, timed_out = zygote.run(argv[3:], env, cwd, str(log_file), private, budget)
        if code is not None or timed_out:   # else the zygote died under it: grade with a plain child
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            return log + ("\n[grader: pytest timed out]" if timed_out else ""), code, True
    if private:
        argv = ["unshare", "--mount", "--propagation", "private", "--", *argv]
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=budget)
        return proc.stdout + proc.stderr, proc.returncode, False
    except subprocess.TimeoutExpired as exc:
        out = b"".join(x if isinstance(x, bytes) else (x or "").encode() for x in (exc.stdout, exc.stderr))
        return out.decode(errors="replace") + "\n[grader: pytest timed out]", None, False


_ZYGOTE: dict = {}
_ZYGOTE_LOCK = threading.Lock()
_WARM: dict = {}
_WARM_LOCK = threading.Lock()


def _warm(profile_name: str, env: dict) -> dict:
    """GRADER_WARM_CONTROL for a grading's sandboxes: this process's warm interpreter server
    (grader/warm.py), started on first use and shared by every grading it runs, where it can serve:
    a namespaced sandbox with cgroups, the cpu profile, and GRADER_WARM not 0. Else nothing: cold
    interpreters. One server per thread count (``env``: the grading's, whose settings give its
    sandboxes' OpenMP threads, which torch reads when imported)."""
    from grader.sandbox import DROP_TO_NOBODY, NAMESPACED, Cgroups, sandbox_env
    from grader.settings import ENV, Settings
    if env.get("GRADER_WARM", "1") == "0" or get_profile(profile_name).device != "cpu":
        return {}
    threads = (Settings.from_json(env[ENV]) if env.get(ENV) else current()).cpu_threads or 2   # as Limits has it
    with _WARM_LOCK:
        server = _WARM.get(threads)
        if server is None or not server.alive:
            # the run clock counts a warm run by its cgroup: none here, no warm runs
            if _WARM.get("failed") or detect_mode() not in NAMESPACED or not Cgroups.available():
                return {}
            from grader.warm import WarmServer
            start = {**sandbox_env(threads), "PYTHONPATH": str(CHECKS.parent.parent)}
            try:
                server = _WARM[threads] = WarmServer(start, DROP_TO_NOBODY)
                atexit.register(server.close)
            except (OSError, RuntimeError) as exc:
                print(f"grader: the warm interpreter server did not start ({exc}); every sandboxed process "
                      f"starts its own interpreter / 预热解释器启动失败，改为逐次启动", file=sys.stderr)
                _WARM["failed"] = True
                return {}
    return {"GRADER_WARM_CONTROL": server.control}


def _start_zygote(env: dict) -> None:
    """Start this process's judge zygote beside the caller's own work (the warm server's start) where it
    has not started: the first grading of a process waits for the longer of the two, not their sum."""
    if "it" not in _ZYGOTE and not _ZYGOTE.get("failed") and os.environ.get("GRADER_ZYGOTE", "1") != "0":
        threading.Thread(target=_zygote, args=(dict(env),), daemon=True).start()


def _zygote(env: dict):
    """This process's judge zygote (grader/judge_zygote.py), started on first use; None where it
    cannot serve this grading (GRADER_ZYGOTE=0, or it does not start), which then gets a plain
    `python -m pytest` child, as it would without one."""
    if os.environ.get("GRADER_ZYGOTE", "1") == "0":
        return None
    from grader.judge_zygote import Zygote
    with _ZYGOTE_LOCK:
        zygote = _ZYGOTE.get("it")
        if zygote is None or not zygote.alive:
            if _ZYGOTE.get("failed"):
                return None
            try:
                zygote = _ZYGOTE["it"] = Zygote(env, cwd=tempfile.gettempdir())
                atexit.register(zygote.close)
            except (OSError, RuntimeError, queue.Empty) as exc:
                print(f"grader: the judge zygote did not start ({exc}); each grading starts its own "
                      f"pytest / 评分进程预加载失败，改为逐次启动", file=sys.stderr)
                _ZYGOTE["failed"] = True
                return None
    return zygote if zygote.serves(env) else None


def _read_checks(path: Path, assignment: str) -> tuple[list[CheckResult], list[str], dict, list[str]]:
    """The checks' outcomes, the adaptations the grading applied, its timeline and the sandbox's own
    failures, as grader.plugin wrote them."""
    if not path.exists():
        return [], [], {}, []
    data = json.loads(path.read_text())
    checks = [CheckResult(assignment=assignment, **{k: v for k, v in entry.items() if k != "zh_en"})
              for entry in data["checks"]]
    return (checks, list(data.get("adaptations", [])), data.get("timeline") or {},
            list(data.get("sandbox_failures") or []))


def breakdown(timeline: dict, launched: float, ended: float) -> dict:
    """Where a grading's wall time went, in seconds: ``startup`` (interpreter, pytest, plugin),
    ``student`` (some probe running in the sandbox: the student code's floor, with the probe's own
    imports), ``judge`` (the checks while no probe ran), ``teardown``; and each probe mode's wall
    and its steps' own seconds. For benchmarks and the class summary; never graded."""
    configured, finished = timeline.get("configured"), timeline.get("finished")
    if configured is None or finished is None:
        return {"total": ended - launched}
    runs = timeline.get("probes", [])
    spans = sorted((p["start"], p["end"]) for p in runs)
    student, reach = 0.0, configured
    for start, end in spans:   # the union of the probe runs (lora runs two at once)
        start = max(start, reach)
        if end > start:
            student += end - start
            reach = end
    probes: dict = {}
    for p in runs:
        entry = probes.setdefault(p["mode"], {"wall": 0.0, "ran": 0.0, "steps": {}, "peak_bytes": 0})
        entry["wall"] += p["end"] - p["start"]
        entry["ran"] = max(entry["ran"], p.get("ran") or 0.0)   # one run's, as its time limit counts
        entry["peak_bytes"] = max(entry["peak_bytes"], p.get("peak_bytes") or 0)
        for step, seconds in p.get("steps", {}).items():
            entry["steps"][step] = entry["steps"].get(step, 0.0) + seconds
    # the unit's envelope: the judge, plus the sandboxes that ran at the same time (lora: two)
    sandboxes = max((sum(q.get("peak_bytes") or 0 for q in runs if q["start"] < p["end"] and p["start"] < q["end"])
                     for p in runs), default=0)
    return {"total": ended - launched, "startup": configured - launched, "student": student,
            "judge": finished - configured - student, "teardown": ended - finished, "probes": probes,
            "peak_bytes": (timeline.get("judge_peak_bytes") or 0) + sandboxes,
            "measured": timeline.get("measured", {})}


def grade_submission(submission: Path, out_dir: Path, profile_name: str = "cpu",
                     assignments: tuple[str, ...] | None = None, policy: CoursePolicy | None = None,
                     metadata: Path | None = None, cache_key: str = "", env: dict | None = None) -> SubmissionResult:
    """Grade every assignment of one student's folder; write results.json and report.html.

    grader-result.json is written last: its presence (with the same cache_key) means this
    student's grading finished, so a class run that was killed can resume after it.
    """
    policy = policy or CoursePolicy()
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    assignments = assignments or registry.names()
    results = []
    for assignment in assignments:
        results.append(grade_assignment(submission / assignment, assignment, profile_name,
                                        log_path=out_dir / f"{assignment}.log", env=env))
    profile = get_profile(profile_name)
    declared = [registry.get(a) for a in assignments]
    notes = [f"{a.name}: {a.grading_for(profile.name).note_en}" for a in declared if a.grading_for(profile.name).note_en]
    result = SubmissionResult(
        student=submission.name, assignments=results, profile=profile.name,
        profile_description="; ".join([profile.description, *notes]), sandbox=MODE_DESCRIPTIONS[detect_mode()],
        limits="time: " + "; ".join(f"{a.name}: {a.describe_limits(profile.name)}" for a in declared)
               + f"; {profile.limits().describe(disk_is_capped=private_mounts_possible())}", grader_version=__version__,
        graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        execution_time=time.monotonic() - started, cache_key=cache_key,
        settings=dataclasses.asdict(resolved_settings()))
    apply_policy(result, policy, submission_time(submission, metadata))
    write_reports(result, out_dir)
    return result


def write_reports(result: SubmissionResult, out_dir: Path) -> None:
    """results.json and report.html, then grader-result.json (last: it marks the grading finished)."""
    from grader.report import render_submission

    dump(out_dir / "results.json", result.to_gradescope())
    render_submission(result, out_dir / "report.html")
    dump(out_dir / "grader-result.json", result.to_json())


def is_submission(path: Path) -> bool:
    return any((path / a).is_dir() for a in registry.names())

