"""Where a grading's time and memory go (grader.runner.breakdown), as benchmarks/grade_class.py prints it."""
from __future__ import annotations

import pytest

from grader.runner import breakdown


def test_breakdown_splits_the_wall_time_and_counts_overlapping_probes_once():
    timeline = {"configured": 100.5, "finished": 130.0, "judge_peak_bytes": 400,
                "probes": [{"mode": "inspect", "start": 101.0, "end": 107.0, "steps": {"import_train": 0.5},
                            "peak_bytes": 300},
                           {"mode": "train", "start": 101.0, "end": 125.0, "steps": {"train": 18.0},
                            "peak_bytes": 200},
                           {"mode": "train", "start": 126.0, "end": 128.0, "steps": {"train": 1.0},
                            "peak_bytes": 250}]}
    t = breakdown(timeline, launched=100.0, ended=130.2)

    assert t["startup"] == pytest.approx(0.5)
    assert t["student"] == pytest.approx(24.0 + 2.0)     # inspect ran inside train's span
    assert t["judge"] == pytest.approx(29.5 - 26.0)
    assert t["teardown"] == pytest.approx(0.2)
    assert t["startup"] + t["student"] + t["judge"] + t["teardown"] == pytest.approx(t["total"])
    assert t["probes"]["train"] == {"wall": pytest.approx(26.0), "steps": {"train": 19.0}, "peak_bytes": 250}
    assert t["peak_bytes"] == 400 + 300 + 200             # the judge and the two sandboxes at once


def test_breakdown_of_a_grading_that_never_started_is_its_wall_time_alone():
    assert breakdown({}, launched=10.0, ended=12.5) == {"total": 2.5}
