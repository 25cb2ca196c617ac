"""The check API (grader/plugin.py) as a course author meets it: dependencies given as the check
functions, run in dependency order; failures with Chinese, English, expected and actual apart, all the
way to results.json and report.html; a grader bug reported as an internal error, not a lost point."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from grader.profiles import REPO
from grader.report import render_submission
from grader.results import AssignmentResult, CheckResult, SubmissionResult

CHECKS = '''
from grader.plugin import check, require

def _first():
    @check(10, zh="甲", en="first")
    def test_first():
        pass
    return test_first

FIRST = _first()

@check(20, zh="乙依赖甲", en="second needs first", depends=(FIRST,))
def test_second():
    require(1 + 1 == 3, "算错了。", "Wrong sum.", expected=3, actual=2, hint_zh="再算一次", hint_en="add again")

@check(30, zh="丙依赖乙", en="third needs second", depends=(test_second,))
def test_third():
    pass

@check(40, zh="丁是评分器的错", en="fourth breaks the grader")
def test_fourth():
    {}["missing"]

test_first = FIRST   # collected last: the plugin still runs it before test_second
'''


def run_checks(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    folder = tmp_path / "checks" / "toy"
    folder.mkdir(parents=True)
    (folder / "test_toy.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest", str(folder), "-p", "grader.plugin", "-p", "no:cacheprovider",
                           "--rootdir", str(folder.parent), "-c", str(REPO / "grader" / "checks" / "pytest.ini"),
                           "--submission", str(tmp_path), "--grader-results", str(tmp_path / "out.json"), "-q"],
                          capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_dependencies_order_failures_and_internal_errors(tmp_path):
    proc = run_checks(tmp_path, CHECKS)
    assert proc.returncode == 1 and "2 failed" in proc.stdout, proc.stdout + proc.stderr   # pytest's own code and summary, after the plugin's fast exit
    checks = {c["name"]: c for c in json.loads((tmp_path / "out.json").read_text())["checks"]}
    assert checks["test_first"]["status"] == "passed", proc.stdout   # ran before test_second needed it
    second = checks["test_second"]
    assert second["status"] == "failed" and second["score"] == 0
    assert second["failure"] == {"zh": "算错了。", "en": "Wrong sum.", "expected": "3", "actual": "2",
                                 "hint_zh": "再算一次", "hint_en": "add again"}
    assert checks["test_third"]["status"] == "skipped" and "乙依赖甲" in checks["test_third"]["output"]
    fourth = checks["test_fourth"]
    assert fourth["status"] == "error" and "Internal grader error" in fourth["output"] and "KeyError" in fourth["output"]

    result = AssignmentResult("toy", [CheckResult(assignment="toy", **{k: v for k, v in c.items() if k != "zh_en"})
                                      for c in checks.values()])
    # the grader's bug keeps its points in the maximum (scored 0 until a regrade): no maximum shrinks
    assert (result.score, result.max_score, result.needs_regrading) == (10, 100, True)
    submission = SubmissionResult("alice", [result], "cpu", "cpu", "bubblewrap", "none", "0", "now")
    tests = {t["tags"][1]: t for t in submission.to_gradescope()["tests"]}
    assert tests["test_second"]["extra_data"]["failure"]["expected"] == "3"
    assert "提示：再算一次" in tests["test_second"]["output"]
    assert tests["test_fourth"]["max_score"] == 40 and submission.to_gradescope()["score"] == 10
    render_submission(submission, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<p class=\"why\">算错了。</p>" in page and "<pre>3</pre>" in page and "<pre>2</pre>" in page
    assert "评分器错误 / grader error" in page


def test_a_dependency_must_be_a_check_function(tmp_path):
    proc = run_checks(tmp_path, '''
        from grader.plugin import check

        @check(1, zh="甲", en="a", depends=("test_b",))
        def test_a():
            pass
    ''')
    assert proc.returncode != 0 and "depends takes the check functions themselves" in proc.stdout + proc.stderr


def test_a_cycle_is_refused_at_collection(tmp_path):
    proc = run_checks(tmp_path, '''
        from grader.plugin import check

        @check(1, zh="甲", en="a")
        def test_a():
            pass

        @check(1, zh="乙", en="b", depends=(test_a,))
        def test_b():
            pass

        test_a.pytestmark[0].kwargs["depends"] = ("test_b",)   # what no decorator can write: a cycle
    ''')
    assert proc.returncode != 0 and "cycle" in proc.stdout + proc.stderr
