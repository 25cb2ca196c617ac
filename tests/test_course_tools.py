"""The tools around grading: course.toml (points, visibility, late penalty), `grader check` for
students, `grader validate` for course authors, and the Gradescope bundle run as Gradescope runs it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone

import pytest

from grader import assignments
from grader.course import CourseError, apply_policy, load_policy, submission_time
from fixtures import fixtures_dir
from grader.profiles import REPO
from grader.sandbox import Cgroups
from tests.conftest import DEEPSPEED, check_count
from tests.test_results_format import sample, validate_gradescope

POLICY = """
[assignments.qwen2_lora]
points = 40
due = 2026-12-01T23:59:00+08:00
late_penalty_per_day = 0.1
max_late_days = 3
visibility = { test_c = "after_published" }
"""


def write(tmp_path, text, name="course.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, words", [
    ("[assignments.nope]\npoints = 1\n", ["unknown assignment", "qwen2_lora"]),
    ("[assignments.qwen2_lora]\nvisibility = { test_a = \"secret\" }\n", ["visibility", "after_due_date"]),
    ("[assignments.qwen2_lora]\ndue = 2026-12-01T23:59:00\n", ["offset"]),
    ("[assignments.qwen2_lora]\npoint = 5\n", ["unknown key", "points"]),
    ("[assignments.qwen2_lora\n", ["not valid TOML"]),
])
def test_a_bad_course_file_names_the_file_and_the_fix(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(CourseError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and all(w in str(err.value) for w in words), err.value


def test_points_visibility_and_late_penalty_from_the_metadata(tmp_path):
    policy = load_policy(write(tmp_path, POLICY))
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-12-03T10:00:00+08:00"}))
    when = submission_time(tmp_path)
    assert when == datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc)
    result = sample()                       # 10 of 20 points before the policy
    apply_policy(result, policy, when)
    a = result.assignments[0]
    assert a.max_score == 40 and sum(c.score for c in a.checks) == 20     # scaled to 40 points
    assert a.late_days == 2 and a.penalty == pytest.approx(4) and result.score == pytest.approx(16)
    assert a.checks[2].visibility == "after_published"
    data = result.to_gradescope()
    validate_gradescope(data)               # the penalty is a negative line: the tests add up
    assert data["score"] == pytest.approx(16) and "late" in data["output"]


def test_too_late_scores_zero_and_on_time_loses_nothing(tmp_path):
    policy = load_policy(write(tmp_path, POLICY))
    late, on_time = sample(), sample()
    apply_policy(late, policy, datetime(2026, 12, 9, tzinfo=timezone.utc))
    apply_policy(on_time, policy, datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert late.score == 0 and on_time.score == 20 and on_time.assignments[0].penalty == 0


def grader_cli(*args, timeout=600, **kwargs):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def test_check_shows_students_the_visible_checks_only(tmp_path):
    work = tmp_path / "qwen2_chat"
    shutil.copytree(REPO / "reference" / "qwen2_chat", work)
    course = write(tmp_path, '[assignments.qwen2_chat]\nvisibility = { test_history = "hidden" }\n')
    proc = grader_cli("check", work, "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "qwen2_chat: 80/80" in proc.stdout and "✓" in proc.stdout
    assert "history" not in proc.stdout.lower() and "历史" not in proc.stdout   # the hidden check
    assert "1 more check(s) are graded after you submit" in proc.stdout


def test_validate_says_reference_full_and_stub_zero():
    proc = grader_cli("validate", "--assignment", "qwen2_chat")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok  qwen2_chat     reference 100/100" in proc.stdout
    assert "ok  qwen2_chat     stub      0/100" in proc.stdout


# Gradescope's own containers refuse namespaces: every assignment's bundle grades its reference in
# the container mode there, under a Docker-like confinement of the whole run (and the stub too);
# where bubblewrap works (a course server running the bundle), the chat bundle shows the same
BUNDLED = [pytest.param(a, "reference", 100, True, id=f"{a}-docker-like",
                        marks=[DEEPSPEED] if a == "minicpm_deepspeed" else []) for a in assignments.names()] + [
    pytest.param("qwen2_chat", "assignments", 0, True, id="qwen2_chat-stub-docker-like"),
    pytest.param("qwen2_chat", "reference", 100, False, id="qwen2_chat"),
    pytest.param("qwen2_chat", "assignments", 0, False, id="qwen2_chat-stub")]


@pytest.mark.parametrize("assignment, base, score, docker_like", BUNDLED)
def test_gradescope_bundle_runs_as_gradescope_runs_it_inside_the_envelope_it_states(tmp_path, assignment, base, score,
                                                                                    docker_like):
    if docker_like and os.geteuid() != 0:
        pytest.skip("Gradescope runs the grader as root")
    bundle = tmp_path / "autograder.zip"
    proc = grader_cli("gradescope-bundle", assignment, "-o", bundle)
    declared = assignments.get(assignment)
    envelope = declared.gradescope
    assert proc.returncode == 0 and declared.gradescope_settings() in proc.stdout, proc.stdout + proc.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        zf.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "grader/cli.py"} <= set(names)
    assert not any(n.startswith(("reference/", "tests/")) for n in names)   # no solutions shipped
    # Gradescope's layout: the student's files flat in submission/, the metadata beside it
    shutil.copytree(REPO / base / assignment, root / "submission")
    (root / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-11-01T00:00:00Z"}))
    env = {"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable,
           "GRADER_FIXTURES": str(fixtures_dir()), "HOME": str(tmp_path)}
    # the container: the envelope's memory for the whole tree (judge and sandboxes), its timeout
    container = Cgroups({"memory": envelope.memory_mb * 1024 ** 2})
    started = time.monotonic()
    wrap = [sys.executable, str(REPO / "tests" / "tools" / "docker_like.py")] if docker_like else []
    run = subprocess.run([*wrap, "bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                         text=True, timeout=declared.gradescope_minutes() * 60, preexec_fn=container.join)
    wall, oom, peak = time.monotonic() - started, container.hit("memory"), container.peak_memory()
    container.remove()
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == score and not oom, run.stdout + run.stderr
    validate_gradescope(results)
    assert len(results["tests"]) == check_count(assignment)
    if docker_like:
        assert "container" in results["extra_data"]["sandbox"], results["extra_data"]
    print(f"{assignment}: {wall:.0f} s, peak {(peak or 0) / 1024 ** 2:.0f} MB of the stated {declared.gradescope_settings()}")
