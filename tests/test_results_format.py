"""results.json follows Gradescope's documented format; reports render; class grading writes CSV."""
from __future__ import annotations

import csv
import json

from grader.report import render_class, render_submission, write_grades_csv
from grader.results import AssignmentResult, CheckResult, SubmissionResult

# Gradescope's documented fields (https://gradescope-autograders.readthedocs.io, "Output format")
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format",
             "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
               "output_format", "tags", "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def sample(student="alice") -> SubmissionResult:
    checks = [CheckResult("qwen2_lora", "test_a", "A works", "A 正常", 10, 10, "passed"),
              CheckResult("qwen2_lora", "test_b", "B works", "B 正常", 0, 5, "failed", output="<script>x</script>",
                          hint_en="do B", hint_zh="做 B"),
              CheckResult("qwen2_lora", "test_c", "C works", "C 正常", 0, 5, "skipped", output="skipped",
                          visibility="hidden", depends=["test_b"])]
    return SubmissionResult(student=student, assignments=[AssignmentResult("qwen2_lora", checks)],
                            profile="cpu", profile_description="cpu", sandbox="bubblewrap", limits="wall 1 s",
                            grader_version="0", graded_at="2026-01-01T00:00:00+00:00", execution_time=3.4)


def validate_gradescope(data: dict) -> None:
    assert set(data) <= TOP_LEVEL, set(data) - TOP_LEVEL
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], int)
    assert data.get("visibility", "visible") in VISIBILITY
    for test in data["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITY
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-9


def test_gradescope_results_json_fields():
    data = json.loads(json.dumps(sample().to_gradescope()))
    validate_gradescope(data)
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]  # skipped -> failed
    assert data["tests"][1]["number"] == "1.2" and "Hint: do B" in data["tests"][1]["output"]
    assert data["tests"][2]["visibility"] == "hidden"


def test_reports_escape_student_text_and_hide_hidden_checks(tmp_path):
    render_submission(sample(), tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert "B 正常" in html and "C works" not in html
    # a failed visible check says how to reproduce it; a passed one does not
    assert html.count("grader check . --assignment qwen2_lora") == 1


def test_class_index_and_csv(tmp_path):
    results = [sample("alice"), sample("bob")]
    render_class(results, tmp_path / "index.html")
    write_grades_csv(results, tmp_path / "grades.csv")
    assert 'href="alice/report.html"' in (tmp_path / "index.html").read_text()
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    # only the graded assignments: an empty column would overwrite grades in Canvas or Moodle
    assert rows[0] == {"student": "alice", "qwen2_lora": "10", "total": "10", "max": "20"}


def test_round_trip_of_the_result_model():
    original = sample()
    assert SubmissionResult.from_json(json.loads(json.dumps(original.to_json()))) == original
