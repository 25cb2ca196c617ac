"""Grading a whole class: parallel, resumable after kill -9, the same through Ray; the dashboard
and the CSV agree with each student's results."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.classrun import LocalExecutor, RayExecutor, grade_class
from grader.profiles import REPO
from tests.test_results_format import validate_gradescope

EXAMPLES = REPO / "examples" / "submissions"
CHAT = ("qwen2_chat",)   # the quickest assignment to grade: a class run here costs seconds


def chat_class(root: Path, students=("alice", "bob", "carol")) -> Path:
    for s in students:
        shutil.copytree(EXAMPLES / s / "qwen2_chat", root / s / "qwen2_chat")
    return root


def outcome(result) -> dict:
    """What must be identical between two gradings of the same files: every check's verdict."""
    return {(a.name, c.name): (c.status, c.score) for a in result.assignments for c in a.checks}


def test_resume_after_kill_grades_only_what_is_missing_or_changed(tmp_path):
    klass, out = chat_class(tmp_path / "class"), tmp_path / "reports"
    argv = [sys.executable, "-m", "grader.cli", "run", str(klass), "--out", str(out), "--assignment",
            "qwen2_chat", "--workers", "1"]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = out / "alice" / "grader-result.json"
    deadline = time.monotonic() + 300
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)     # kill -9 mid-class: alice done, bob under way
    proc.wait()
    assert first.exists(), proc.stdout.read().decode()
    assert not (out / "carol" / "grader-result.json").exists()
    alice_done = first.stat().st_mtime_ns

    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming: 1 of 3" in rerun.stderr
    assert first.stat().st_mtime_ns == alice_done              # not regraded
    rows = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open())}
    assert rows == {"alice": "100", "bob": "85", "carol": "0"}

    # a changed file is regraded, the others are not; --force regrades everyone
    bob = klass / "bob" / "qwen2_chat" / "chatBot.py"
    bob.write_text(bob.read_text() + "\n# changed\n")
    stamps = {s: (out / s / "grader-result.json").stat().st_mtime_ns for s in rows}
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert "resuming: 2 of 3" in again.stderr, again.stderr
    changed = {s for s in rows if (out / s / "grader-result.json").stat().st_mtime_ns != stamps[s]}
    assert changed == {"bob"}
    for s in ("alice", "bob"):     # keep --force cheap: carol alone, graded again though unchanged
        shutil.rmtree(klass / s)
    carol = (out / "carol" / "grader-result.json").stat().st_mtime_ns
    forced = subprocess.run(argv + ["--force"], capture_output=True, text=True, timeout=600)
    assert forced.returncode == 0 and "resuming" not in forced.stderr
    assert (out / "carol" / "grader-result.json").stat().st_mtime_ns != carol


def test_dashboard_and_csv_match_the_reports(tmp_path):
    klass, out = chat_class(tmp_path / "class"), tmp_path / "reports"
    results = grade_class(klass, out, assignments=CHAT, executor=LocalExecutor(workers=2))
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol"]
    index = (out / "index.html").read_text(encoding="utf-8")
    for r, row in zip(results, rows):
        data = json.loads((out / r.student / "results.json").read_text(encoding="utf-8"))
        validate_gradescope(data)
        assert float(row["total"]) == data["score"] == r.score
        assert float(row["qwen2_chat"]) == r.score
        assert f'href="{r.student}/report.html"' in index
    assert "<svg" in index and "通过率 / Rate" in index
    # pass rates: bob alone fails test_slider_reaches_generate, carol fails everything
    assert "test_slider_reaches_generate" in index and "1 / 3" in index
    # every class run writes the similarity report, linked from the dashboard
    assert 'href="similarity.html"' in index and (out / "similarity.html").is_file()
    assert next(csv.reader((out / "similarity.csv").open(encoding="utf-8")))[:3] == ["assignment", "student_a", "student_b"]


def test_ray_executor_gives_the_same_results_as_the_local_one(tmp_path):
    ray = pytest.importorskip("ray")
    klass = chat_class(tmp_path / "class", students=("alice", "carol"))
    local = grade_class(klass, tmp_path / "local", assignments=CHAT, executor=LocalExecutor(workers=2))
    try:
        remote = grade_class(klass, tmp_path / "ray", assignments=CHAT, executor=RayExecutor(num_cpus=2))
    finally:
        ray.shutdown()
    assert [r.student for r in remote] == [r.student for r in local] == ["alice", "carol"]
    for a, b in zip(local, remote):
        assert outcome(a) == outcome(b), a.student
    assert [r.score for r in remote] == [100, 0]


def test_gpu_profile_gives_each_unit_one_gpu_at_a_time(monkeypatch, tmp_path):
    """No GPU here: grade_unit is replaced by a recorder; what is tested is the hand-out of GPUs."""
    import threading
    from grader import classrun

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    executor = classrun.make_executor("local", "cuda", workers=None)
    assert executor.gpus == [0, 1] and executor.workers == 2
    held, lock, seen = set(), threading.Lock(), []

    class Judges:   # the run's judge services: each unit reaches the one on its own GPU
        def env(self, gpu=None):
            return {"GRADER_JUDGE_SERVICES": f"service on GPU {gpu}"}

    def fake_grade_unit(unit, env=None):
        gpu = env["CUDA_VISIBLE_DEVICES"]
        assert env["GRADER_JUDGE_SERVICES"] == f"service on GPU {gpu}"
        with lock:
            assert gpu not in held, "two units on one GPU"
            held.add(gpu)
            seen.append(gpu)
        time.sleep(0.05)
        with lock:
            held.discard(gpu)
        return {"unit": unit.student.name}

    monkeypatch.setattr(classrun, "grade_unit", fake_grade_unit)
    units = [classrun.Unit(tmp_path / f"s{i}", tmp_path / "out", "gpu", CHAT, key="") for i in range(6)]
    done = list(executor.run(units, Judges()))
    assert len(done) == 6 and set(seen) == {"0", "1"}
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(classrun, "visible_gpus", lambda: [])
    with pytest.raises(SystemExit, match="needs a GPU"):
        classrun.make_executor("local", "cuda")


class _ScriptedExecutor:
    """Grades nobody: hands back what it is told for each student (a result, or an exception), and
    writes the result where the runner would, so a later run can keep it."""

    name = "scripted"

    def __init__(self, outcomes: dict):
        self.outcomes = outcomes

    def run(self, units, judges=None):
        from grader.runner import write_reports
        for unit in units:
            outcome = self.outcomes[unit.student.name]
            if isinstance(outcome, BaseException):
                yield unit, outcome
                continue
            unit.out.mkdir(parents=True, exist_ok=True)
            outcome.cache_key = unit.key
            write_reports(outcome, unit.out)
            yield unit, outcome.to_json()


def test_grader_errors_keep_the_maximum_are_listed_and_regraded_with_only(tmp_path):
    """A check the grader itself got wrong scores 0 with its points kept in the maximum; the class
    run lists that student and one whose grading failed, with the --only line; that regrade clears them."""
    import io

    from tests.test_results_format import sample
    klass, out = chat_class(tmp_path / "class"), tmp_path / "reports"
    broken = sample("alice")
    broken.assignments[0].checks[0].status, broken.assignments[0].checks[0].score = "error", 0
    log = io.StringIO()
    results = grade_class(klass, out, assignments=CHAT, stream=log, executor=_ScriptedExecutor(
        {"alice": broken, "bob": RuntimeError("a worker died"), "carol": sample("carol")}))
    assert results.to_regrade == ["alice", "bob"], log.getvalue()
    alice = next(r for r in results if r.student == "alice")
    assert (alice.score, alice.max_score, alice.needs_regrading) == (0, 20, True)
    assert "--only alice,bob" in log.getvalue()
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert rows["alice"]["max"] == "20"

    results = grade_class(klass, out, assignments=CHAT, only=("alice", "bob"), stream=io.StringIO(),
                          executor=_ScriptedExecutor({"alice": sample("alice"), "bob": sample("bob")}))
    assert results.to_regrade == [] and {r.student: r.score for r in results} == {"alice": 10, "bob": 10, "carol": 10}
