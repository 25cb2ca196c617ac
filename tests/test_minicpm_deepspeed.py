"""minicpm_deepspeed end to end, through the real runner, sandbox and `deepspeed` launcher: the
reference scores full marks in both modes, the stub zero, and each broken submission loses the
checks of the bug it carries."""
from __future__ import annotations

import json

import pytest

from grader.checks.minicpm_deepspeed.fresh import DATASET
from grader.profiles import REPO
from tests.broken_submissions import MINICPM_BROKEN, NO_LAUNCH
from tests.conftest import DEEPSPEED, grade, make_submission

ASSIGNMENT = "minicpm_deepspeed"


@DEEPSPEED
def test_reference_scores_full_marks_in_both_modes(tmp_path):
    result, checks = grade(make_submission(tmp_path / "ref", assignment=ASSIGNMENT), tmp_path / "out", ASSIGNMENT)
    failed = {n: c.output for n, c in checks.items() if c.status != "passed"}
    assert not failed, failed
    assert result.score == result.max_score == 100


@DEEPSPEED
def test_untouched_stub_scores_zero(tmp_path):
    result, checks = grade(make_submission(tmp_path / "stub", base="stub", assignment=ASSIGNMENT),
                           tmp_path / "out", ASSIGNMENT)
    assert result.score == 0, {n: c.status for n, c in checks.items()}
    assert {c.status for c in checks.values()} <= {"failed", "skipped"} and result.max_score == 100   # no grader error
    assert "build_tokenizer" in checks["test_prompt_ids"].output
    assert "implement train.sh" in checks["test_launcher"].output
    assert "DeepSpeed" in checks["test_ds_config_builds"].output
    assert checks["test_ds_config_zero2_offload"].status == "skipped"   # nothing built to read the stage from


# the DeepSpeed launches run one at a time (tests/conftest.py); a broken submission that never
# launches runs beside them
@pytest.mark.parametrize("name", [name if NO_LAUNCH in patches else pytest.param(name, marks=DEEPSPEED)
                                  for name, (_, patches, *_) in sorted(MINICPM_BROKEN.items())])
def test_broken_submission_loses_its_checks(name, tmp_path):
    description, patches, must_fail, catches = MINICPM_BROKEN[name]
    result, checks = grade(make_submission(tmp_path / name, patches=patches, assignment=ASSIGNMENT),
                           tmp_path / "out", ASSIGNMENT)
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == must_fail, (description, {n: checks[n].output[:600] for n in lost ^ must_fail})
    # the checks it exists to catch fail on their own evidence, not as skipped dependents
    assert {n: checks[n].status for n in catches} == dict.fromkeys(catches, "failed"), description
    assert {c.status for c in checks.values()} <= {"passed", "failed", "skipped"}   # no grader error
    assert result.score == 100 - sum(checks[n].max_score for n in must_fail)


# A train.sh that trains nothing and writes, where our DeepSpeed hook writes them, the records of a
# perfect run: the launcher's argv, a ZeRO-2 engine with CPU Adam, a LoRA model, falling losses.
FORGED_RUN = '''python3 - "$@" <<'FORGE'
import json, os, sys
lora = "--use_lora" in sys.argv
out = os.environ["GRADER_DS_OUT"]   # where the grader's hook writes what it saw
with open(os.path.join(out, "ds-launcher.json"), "w") as f:
    json.dump({"argv": ["--world_info=e30=", "train.py", "--deepspeed", "./ds_config.json"], "pid": 1}, f)
with open(os.path.join(out, "ds-rank0.json"), "w") as f:
    json.dump({"train_finished": True, "training_args": {"deepspeed": "./ds_config.json"},
               "engine": {"zero_stage": 2, "offload_optimizer_cpu": True, "basic_optimizer": "DeepSpeedCPUAdam"},
               "model": {"peft": lora, "trainable": 1 if lora else 1000, "total": 1000}, "losses": [3.0 - i / 20 for i in range(50)]}, f)
FORGE
exit 0
'''
# what the forgery earns: every check of the data and ds_config.json (the student's real files), and
# the two whose evidence can only come from inside the training processes (docs/threat-model.md)
CLAIM_ONLY = {"test_launcher", "test_engine_zero2_cpu_adam"}


def test_forged_deepspeed_records_earn_only_the_claim_only_checks(tmp_path):
    """Training and answers are the judge's own evidence (its loss with the saved weights, its own
    greedy answer): forged records without weights lose them, and keep only what the threat model
    lists as claims."""
    patches = [("train.sh", 'cd "$(dirname "$0")"\n', 'cd "$(dirname "$0")"\n' + FORGED_RUN)]
    result, checks = grade(make_submission(tmp_path / "forger", patches=patches, assignment=ASSIGNMENT),
                           tmp_path / "out", ASSIGNMENT)
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == {"test_lora_training", "test_full_training", "test_lora_answer", "test_full_answer"}, {
        n: checks[n].output[:400] for n in lost}
    assert CLAIM_ONLY <= set(checks) - lost
    # the forged records pass; the judge's own evidence does not: no weights to measure
    assert "adapter_config.json" in checks["test_lora_training"].output, checks["test_lora_training"].output
    assert "config.json" in checks["test_full_training"].output, checks["test_full_training"].output
    assert result.score == 100 - sum(checks[n].max_score for n in lost) == 75


def test_the_course_dataset_is_the_one_the_grader_trains_on():
    """The stub's and the reference's huanhuan.json are the judge's own copy, and teach 你是谁？."""
    for base in ("reference", "assignments"):
        assert (REPO / base / ASSIGNMENT / "huanhuan.json").read_bytes() == DATASET.read_bytes()
    records = json.loads(DATASET.read_text(encoding="utf-8"))
    assert {"instruction": "你是谁？", "input": "", "output": "家父是大理寺少卿甄远道。"} in records
