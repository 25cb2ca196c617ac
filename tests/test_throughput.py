"""Class throughput: where a grading's time and memory go (grader.runner.breakdown, as
benchmarks/grade_class.py prints it), and the order a class run starts its units in."""
from __future__ import annotations

import json

import pytest

from grader import classrun
from grader.classrun import Unit, longest_first
from grader.runner import breakdown


def test_breakdown_splits_the_wall_time_and_counts_overlapping_probes_once():
    timeline = {"configured": 100.5, "finished": 130.0, "judge_peak_bytes": 400,
                "probes": [{"mode": "inspect", "start": 101.0, "end": 107.0, "steps": {"import_train": 0.5},
                            "peak_bytes": 300},
                           {"mode": "train", "start": 101.0, "end": 125.0, "steps": {"train": 18.0},
                            "peak_bytes": 200, "ran": 20.5},
                           {"mode": "train", "start": 126.0, "end": 128.0, "steps": {"train": 1.0},
                            "peak_bytes": 250, "ran": 1.5}]}
    t = breakdown(timeline, launched=100.0, ended=130.2)

    assert t["startup"] == pytest.approx(0.5)
    assert t["student"] == pytest.approx(24.0 + 2.0)     # inspect ran inside train's span
    assert t["judge"] == pytest.approx(29.5 - 26.0)
    assert t["teardown"] == pytest.approx(0.2)
    assert t["startup"] + t["student"] + t["judge"] + t["teardown"] == pytest.approx(t["total"])
    # "ran": the longest single run on the run clock, what a time limit counts
    assert t["probes"]["train"] == {"wall": pytest.approx(26.0), "ran": 20.5, "steps": {"train": 19.0}, "peak_bytes": 250}
    assert t["peak_bytes"] == 400 + 300 + 200             # the judge and the two sandboxes at once


def test_breakdown_of_a_grading_that_never_started_is_its_wall_time_alone():
    assert breakdown({}, launched=10.0, ended=12.5) == {"total": 2.5}


def test_a_class_run_starts_its_longest_units_first(tmp_path):
    def unit(name, folders, last_time=None):
        for a in folders:
            (tmp_path / "class" / name / a).mkdir(parents=True)
        out = tmp_path / "out" / name
        if last_time is not None:
            out.mkdir(parents=True)
            (out / "grader-result.json").write_text(json.dumps({"execution_time": last_time}))
        return Unit(student=tmp_path / "class" / name, out=out, profile="cpu",
                    assignments=("qwen2_chat", "minicpm_deepspeed"), key="k")

    units = [unit("a_chat_only", ["qwen2_chat"]), unit("b_both", ["qwen2_chat", "minicpm_deepspeed"]),
             unit("c_regraded_slow", ["qwen2_chat"], last_time=9000.0), unit("d_nothing", []),
             unit("e_chat_only", ["qwen2_chat"])]
    order = [u.student.name for u in longest_first(units)]
    # the last grading's time where there was one, else the measured times of the folders present; ties
    # in class order
    assert order == ["c_regraded_slow", "b_both", "a_chat_only", "e_chat_only", "d_nothing"]


def test_the_default_worker_count_fits_the_cores_and_the_memory(monkeypatch):
    gib = 1024 ** 3
    monkeypatch.delenv("GRADER_CPU_THREADS", raising=False)
    for cores, memory, workers, threads in ((16, 64 * gib, 16, "1"), (16, 7 * gib, 3, "5"), (2, 64 * gib, 2, "1"),
                                            (8, 1 * gib, 1, "8")):
        monkeypatch.setattr(classrun.os, "cpu_count", lambda: cores)
        monkeypatch.setattr(classrun, "available_memory", lambda: memory)
        assert classrun.default_workers() == workers, (cores, memory)
        # the cores are shared among the units: each sandbox's torch gets its part
        assert classrun.sandbox_threads(workers) == threads, (cores, workers)
    monkeypatch.setenv("GRADER_CPU_THREADS", "3")
    assert classrun.sandbox_threads(16) == "3"   # the course staff's setting wins
    monkeypatch.undo()
    assert 0 < classrun.available_memory() < 1 << 50   # this machine's /proc/meminfo is read


def test_a_time_limit_is_its_measurement_with_the_margin_and_the_floors():
    from grader.assignments import LIMIT_FLOOR_S, LIMIT_MARGIN, STEP_FLOOR_S, TimeLimit
    assert TimeLimit(43.8).seconds == 220 == -(-43.8 * LIMIT_MARGIN // 10) * 10   # rounded up to 10 s
    assert TimeLimit(5.9).seconds == LIMIT_FLOOR_S               # a run of seconds is mostly start-up
    assert TimeLimit(0.3, runs=0).seconds == STEP_FLOOR_S        # within a run: its own floor


def test_needs_limits_prints_each_limit_with_its_measurement(monkeypatch):
    import subprocess
    import sys
    from grader import assignments as registry
    monkeypatch.delenv("GRADER_INSPECT_TIMEOUT_S", raising=False)   # the tests' own shorter quick probe
    monkeypatch.delenv("GRADER_SETTINGS", raising=False)
    monkeypatch.setenv("GRADER_TRAIN_TIMEOUT_S", "99")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "needs", "limits"], capture_output=True, text=True,
                          check=True)
    lines = {tuple(line.split()[:2]): line for line in done.stdout.splitlines()}
    for name in registry.names():
        for key, limit in registry.get(name).time_limits.items():
            line = lines[(name, key)]
            if key == "train":   # the staff's override, and no measurement behind it
                assert line.split()[2:4] == ["-", "99"] and "GRADER_TRAIN_TIMEOUT_S" in line
            else:
                assert line.split()[2:4] == [f"{limit.measured:.1f}", f"{limit.seconds:.0f}"], line
