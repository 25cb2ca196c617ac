"""`make demo`'s class: the CLI grades a folder of submissions into reports, an index and a CSV."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib

from grader.assignments import get, names
from grader.profiles import REPO
from tests.conftest import DEEPSPEED
from tests.test_results_format import validate_gradescope


@DEEPSPEED   # the class trains minicpm_deepspeed three times
def test_cli_grades_the_example_class(tmp_path):
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(REPO / "examples" / "submissions"),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    # each assignment's expected scores and failed checks: grader/checks/<assignment>/expected_examples.toml
    expected = {a: tomllib.loads(get(a).expected_examples.read_text(encoding="utf-8")) for a in names()}
    for student, row in rows.items():
        assert {a: row[a] for a in names()} == {a: f"{expected[a][student]['score']:g}" for a in names()}, student
        data = json.loads((out / student / "results.json").read_text())
        validate_gradescope(data)
        failed = {(t["tags"][0], t["tags"][1]) for t in data["tests"] if t["status"] == "failed"}
        want = {(a, c) for a in names() if expected[a][student]["score"] for c in expected[a][student].get("failed", [])}
        assert {f for f in failed if expected[f[0]][student]["score"]} == want, student
        assert (out / student / "report.html").exists()
    carol = (out / "carol" / "report.html").read_text()
    assert "TrainingArgs" in carol and "GenerationConfg" in carol   # the student sees why
    index = (out / "index.html").read_text()
    assert all(f'href="{s}/report.html"' in index for s in rows)


def test_cli_rejects_a_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(tmp_path / "nope"), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_cli_rejects_an_unknown_assignment(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(REPO / "examples" / "submissions"),
                           "--out", str(tmp_path / "o"), "--assignment", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown assignment" in proc.stderr
