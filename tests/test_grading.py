"""End to end: the reference scores full marks, the stub zero, each broken submission loses
exactly the check it exists for (and the checks that depend on it)."""
from __future__ import annotations

import pytest

from tests.broken_submissions import BROKEN, LORA_MORE_BROKEN, NO_TRAIN
from tests.conftest import grade, make_submission


def _lost_with(check: str, checks: dict) -> set[str]:
    """The check and, transitively, every check that depends on it."""
    lost, changed = {check}, True
    while changed:
        changed = False
        for name, c in checks.items():
            if name not in lost and lost & set(c.depends):
                lost.add(name)
                changed = True
    return lost


def test_reference_scores_full_marks(tmp_path):
    result, checks = grade(make_submission(tmp_path / "ref"), tmp_path / "out")
    failed = {n: c.output for n, c in checks.items() if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == 100
    assert (tmp_path / "out" / "report.html").exists() and (tmp_path / "out" / "results.json").exists()


def test_untouched_stub_scores_zero(tmp_path):
    result, checks = grade(make_submission(tmp_path / "stub", base="stub"), tmp_path / "out")
    assert result.score == 0, {n: c.status for n, c in checks.items()}
    assert {c.status for c in checks.values()} <= {"failed", "skipped"} and result.max_score == 100   # no grader error
    assert len(checks) == len(BROKEN)          # every check has its broken submission
    assert "not implemented yet" in checks["test_records"].output and "build_records" in checks["test_records"].output


@pytest.mark.parametrize("check", sorted(BROKEN))
def test_broken_submission_loses_only_its_check(check, tmp_path):
    description, patches = BROKEN[check]
    result, checks = grade(make_submission(tmp_path / check, patches=patches), tmp_path / "out")
    assert checks[check].status == "failed", f"{description}: {checks[check].output}"
    expected_lost = _lost_with(check, checks)
    untrained = _lost_with("test_adapter_saved", checks) if NO_TRAIN in patches else set()   # and no training
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == expected_lost | untrained, {n: checks[n].output for n in lost ^ (expected_lost | untrained)}
    assert all(checks[n].status == "skipped" for n in expected_lost - {check})
    assert result.score == 100 - sum(checks[n].max_score for n in expected_lost | untrained)


@pytest.mark.parametrize("name", sorted(LORA_MORE_BROKEN))
def test_more_broken_submissions_lose_exactly_their_checks(name, tmp_path):
    description, patches, must_fail = LORA_MORE_BROKEN[name]
    result, checks = grade(make_submission(tmp_path / name, patches=patches), tmp_path / "out")
    if NO_TRAIN in patches:
        must_fail = must_fail | _lost_with("test_adapter_saved", checks)
    assert {checks[n].status for n in LORA_MORE_BROKEN[name][2]} == {"failed"}, description
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == must_fail, (description, {n: checks[n].output[:600] for n in lost ^ must_fail})
    assert result.score == 100 - sum(checks[n].max_score for n in must_fail)


def test_weak_fallback_without_bubblewrap_still_grades_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SANDBOX", "process")   # as on a laptop without bwrap
    result, checks = grade(make_submission(tmp_path / "ref"), tmp_path / "out")
    assert result.score == 100, {n: c.output for n, c in checks.items() if c.status != "passed"}
    assert result.sandbox.startswith("process (WEAK)")
    assert "WEAK" in (tmp_path / "out" / "report.html").read_text()


def test_an_answer_decoded_with_its_special_tokens_loses_the_student_answer_check(tmp_path):
    """infer.py decodes with skip_special_tokens=False: the answer carries <|im_end|> text. The judge
    replays the student's own generate call and wants exactly its text (issue 19: it scored 100)."""
    result, checks = grade(make_submission(tmp_path / "special", patches=[
        ("infer.py", "batch_decode(generated_ids, skip_special_tokens=True)",
         "batch_decode(generated_ids, skip_special_tokens=False)")]), tmp_path / "out")
    assert {n for n, c in checks.items() if c.status != "passed"} == {"test_student_answer"}, \
        {n: c.output for n, c in checks.items() if c.status != "passed"}
    assert "skip_special_tokens" in checks["test_student_answer"].output
