"""minicpm_deepspeed end to end, through the real runner, sandbox and `deepspeed` launcher: the
reference scores full marks in both modes, the stub zero, and each broken submission loses the
checks of the bug it carries."""
from __future__ import annotations

import json

import pytest

from grader.checks.minicpm_deepspeed.fresh import DATASET
from grader.profiles import REPO
from tests.broken_submissions import MINICPM_BROKEN
from tests.conftest import DEEPSPEED, grade, make_submission

ASSIGNMENT = "minicpm_deepspeed"
pytestmark = DEEPSPEED


def test_reference_scores_full_marks_in_both_modes(tmp_path):
    result, checks = grade(make_submission(tmp_path / "ref", assignment=ASSIGNMENT), tmp_path / "out", ASSIGNMENT)
    failed = {n: c.output for n, c in checks.items() if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == 100


def test_untouched_stub_scores_zero(tmp_path):
    result, checks = grade(make_submission(tmp_path / "stub", base="stub", assignment=ASSIGNMENT),
                           tmp_path / "out", ASSIGNMENT)
    assert result.score == 0, {n: c.status for n, c in checks.items()}
    assert {c.status for c in checks.values()} <= {"failed", "skipped"} and result.max_score == 100   # no grader error
    assert "build_tokenizer" in checks["test_prompt_ids"].output
    assert "implement train.sh" in checks["test_launcher"].output
    assert "DeepSpeed" in checks["test_ds_config_zero2_offload"].output


@pytest.mark.parametrize("name", sorted(MINICPM_BROKEN))
def test_broken_submission_loses_its_checks(name, tmp_path):
    description, patches, must_fail = MINICPM_BROKEN[name]
    result, checks = grade(make_submission(tmp_path / name, patches=patches, assignment=ASSIGNMENT),
                           tmp_path / "out", ASSIGNMENT)
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == must_fail, (description, {n: checks[n].output[:600] for n in lost ^ must_fail})
    assert result.score == 100 - sum(checks[n].max_score for n in must_fail)


def test_the_course_dataset_is_the_one_the_grader_trains_on():
    """The stub's and the reference's huanhuan.json are the judge's own copy, and teach 你是谁？."""
    for base in ("reference", "assignments"):
        assert (REPO / base / ASSIGNMENT / "huanhuan.json").read_bytes() == DATASET.read_bytes()
    records = json.loads(DATASET.read_text(encoding="utf-8"))
    assert {"instruction": "你是谁？", "input": "", "output": "家父是大理寺少卿甄远道。"} in records
