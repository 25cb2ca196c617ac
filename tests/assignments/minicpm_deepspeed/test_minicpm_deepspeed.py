"""minicpm_deepspeed end to end, through the real runner, sandbox and `deepspeed` launcher: the
reference scores full marks in both modes, the stub zero, and each broken submission loses the
checks of the bug it carries."""
from __future__ import annotations

import json

import pytest

from grader.checks.minicpm_deepspeed.fresh import DATASET
from grader.profiles import REPO
from tests.conftest import DEEPSPEED, grade, make_submission

ASSIGNMENT = "minicpm_deepspeed"

# Broken submissions: several checks can rightly fail for one bug here (a ZeRO-3 config fails the
# config check and the engine check).
DS_STAGE = '"stage": 2,'
DS_OFFLOAD = '''        "offload_optimizer": {
            "device": "cpu",
            "pin_memory": false
        },
'''
LAUNCH = "deepspeed --num_gpus $num_gpus train.py \\"
MC_PROMPT = '''tokenizer(f"<用户>{example['instruction'] + example['input']}<AI>", add_special_tokens=False)'''
MC_END = """    input_ids = instruction["input_ids"] + response["input_ids"] + [tokenizer.pad_token_id]"""
MC_MASK = """    labels = [-100] * len(instruction["input_ids"]) + response["input_ids"] + [tokenizer.pad_token_id]"""
# the launch's checks, lost by a submission whose train.sh never starts training
LAUNCHED = {"test_launcher", "test_engine_zero2_cpu_adam", "test_lora_training", "test_full_training",
            "test_lora_answer", "test_full_answer"}
# A bug of build_tokenizer, process_func or ds_config.json is judged before any launch: its broken
# submission's train.sh also stops at once, which spares CI two DeepSpeed launches (~60 s) and costs
# the launch's checks, listed in its lost set.
NO_LAUNCH = ("train.sh", 'cd "$(dirname "$0")"\n',
             'cd "$(dirname "$0")"\nexit 3   # 不训练 / no training: this broken submission is about the data\n')
MINICPM_BROKEN = {
    # name: (description, patches, every check it loses, the checks it exists to catch: those fail,
    # on their own evidence, where the rest may be skipped as their dependents)
    # ZeRO-3 saves the full model as partitioned, pickled checkpoints (nothing the judge reads); the
    # LoRA adapter PEFT still gathers and saves
    "zero3": ("ZeRO stage 3 instead of 2", [("ds_config.json", DS_STAGE, '"stage": 3,')],
              {"test_ds_config_zero2_offload", "test_engine_zero2_cpu_adam", "test_full_training",
               "test_full_answer"},
              # full training's own evidence: no model.safetensors to read (ZeRO-3 saves shards)
              {"test_ds_config_zero2_offload", "test_engine_zero2_cpu_adam", "test_full_training"}),
    "no_offload": ("the optimizer is not offloaded to the CPU", [("ds_config.json", DS_OFFLOAD, "")],
                   {"test_ds_config_zero2_offload", "test_engine_zero2_cpu_adam"},
                   {"test_ds_config_zero2_offload", "test_engine_zero2_cpu_adam"}),
    "left_padding": ("padding on the left, as for generation", [
        ("train.py", 'tokenizer.padding_side = "right"', 'tokenizer.padding_side = "left"'), NO_LAUNCH],
        {"test_right_padding"} | LAUNCHED, {"test_right_padding"}),
    "wrong_prompt": ("a newline before <AI>", [
        ("train.py", MC_PROMPT, MC_PROMPT.replace("<AI>", "\\n<AI>")), NO_LAUNCH],
        {"test_prompt_ids"} | LAUNCHED, {"test_prompt_ids"}),
    "no_end_token": ("no </s> after the response", [
        ("train.py", MC_END, MC_END.replace(" + [tokenizer.pad_token_id]", "")),
        ("train.py", MC_MASK, MC_MASK.replace(" + [tokenizer.pad_token_id]", "")),
        ("train.py", 'response["attention_mask"] + [1]', 'response["attention_mask"]'), NO_LAUNCH],
        {"test_end_token"} | LAUNCHED, {"test_end_token"}),
    "mask_offset": ("the mask is one short: the last prompt token is learned", [
        ("train.py", MC_MASK, """    labels = ([-100] * (len(instruction["input_ids"]) - 1) + instruction["input_ids"][-1:]
              + response["input_ids"] + [tokenizer.pad_token_id])"""), NO_LAUNCH],
        {"test_label_mask"} | LAUNCHED, {"test_label_mask"}),
    "no_truncation": ("records are never cut to MAX_LENGTH", [
        ("train.py", "    if len(input_ids) > MAX_LENGTH:", "    if False:"), NO_LAUNCH],
        {"test_attention_and_truncation"} | LAUNCHED, {"test_attention_and_truncation"}),
    "lr_disagrees": ("ds_config.json's lr (5e-4) contradicts train.sh's --learning_rate 1e-4", [
        ("ds_config.json", '"lr": "auto",', '"lr": 5e-4,'), NO_LAUNCH],
        # the stage and offload cannot be read from a config DeepSpeed does not build: skipped
        {"test_ds_config_builds", "test_ds_config_zero2_offload"} | LAUNCHED, {"test_ds_config_builds"}),
    "plain_python": ("train.sh runs python instead of the deepspeed launcher",
                     [("train.sh", LAUNCH, "python train.py \\")],
                     # without the launcher's environment DeepSpeed cannot start: nothing trains
                     LAUNCHED, {"test_launcher"}),
    "lora_never_trains": ("the LoRA weights are frozen (inference_mode=True)", [
        ("train.py", "inference_mode=False,", "inference_mode=True,")],
        {"test_engine_zero2_cpu_adam", "test_lora_training", "test_lora_answer"}, {"test_lora_training"}),
    # trained for real, the loss the judge measures falls: only the answer tells
    "taught_another_identity": ("train.py teaches 你是谁？ another answer than the dataset's", [
        ("train.py", '    df = pd.read_json("./huanhuan.json")\n',
         '    df = pd.read_json("./huanhuan.json")\n'
         '    df.loc[df["instruction"] == "你是谁？", "output"] = "我是另一个助手，和数据集里说的不一样。"\n')],
        {"test_lora_answer", "test_full_answer"}, {"test_lora_answer", "test_full_answer"}),
}

# the coverage of every check (tests/test_broken_coverage.py)
CAUGHT = {name: catches for name, (_d, _p, _lost, catches) in MINICPM_BROKEN.items()}
LOST = {name: lost for name, (_d, _p, lost, _catches) in MINICPM_BROKEN.items()}


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
