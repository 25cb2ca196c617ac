"""qwen2_lora end to end: the reference scores full marks, the stub zero, each broken submission loses
exactly the check it exists for (and the checks that depend on it)."""
from __future__ import annotations

import pytest

from tests.conftest import grade, lost_with, make_submission

# One broken submission per check: the bug it exists to catch, as a patch of the reference. Each
# loses exactly that check's points, plus the checks that declare it as a dependency (skipped, not failed).
PROMPT = '''        f"<|im_start|>user\\n{example['instruction'] + example['input']}<|im_end|>\\n"'''
MASK = '''    labels = [-100] * len(instruction["input_ids"]) + response["input_ids"] + [tokenizer.pad_token_id]'''
END_IDS = '''    input_ids = instruction["input_ids"] + response["input_ids"] + [tokenizer.pad_token_id]'''
TARGETS = '''target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],'''

# A bug the quick inspection judges (the records, process_func, the TrainingArguments) is the same
# with or without training: its broken submission's train() also stops at once, which spares CI a
# training run (~40 s) and costs the training's checks too (the tests below add them).
NO_TRAIN = ("train.py", "    args = args or build_training_args(output_dir)\n",
            "    raise RuntimeError('不训练 / no training: this broken submission is about the data')\n")
BROKEN = {
    # check name: (description, patches)
    "test_records": ("no record teaches 你是谁？", [
        ("train.py", '"instruction": "你是谁？"', '"instruction": "你叫什么名字？"'), NO_TRAIN]),
    "test_prompt_ids": ("the user turn drops the input field", [
        ("train.py", PROMPT, PROMPT.replace(" + example['input']", "")), NO_TRAIN]),
    "test_end_token": ("no end token after the response", [
        ("train.py", END_IDS, END_IDS.replace(" + [tokenizer.pad_token_id]", "")),
        ("train.py", MASK, MASK.replace(" + [tokenizer.pad_token_id]", "")),
        ("train.py", 'response["attention_mask"] + [1]', 'response["attention_mask"]'), NO_TRAIN]),
    "test_label_mask": ("mask offset by one: the last prompt token is learned", [
        ("train.py", MASK, '''    labels = ([-100] * (len(instruction["input_ids"]) - 1) + instruction["input_ids"][-1:]
              + response["input_ids"] + [tokenizer.pad_token_id])'''), NO_TRAIN]),
    "test_attention_mask": ("the end token is not attended", [
        ("train.py", 'response["attention_mask"] + [1]', 'response["attention_mask"] + [0]'), NO_TRAIN]),
    "test_truncation": ("no truncation at MAX_LENGTH", [
        ("train.py", "    if len(input_ids) > MAX_LENGTH:", "    if False:"), NO_TRAIN]),
    "test_lora_targets": ("LoRA only on q_proj and v_proj", [
        ("train.py", TARGETS, 'target_modules=["q_proj", "v_proj"],')]),
    "test_lora_hyperparameters": ("wrong lora_alpha", [
        ("train.py", "lora_alpha=32,", "lora_alpha=16,")]),
    "test_training_args": ("a learning rate of 1.0", [
        ("train.py", "learning_rate=1e-4,", "learning_rate=1.0,"), NO_TRAIN]),
    "test_training_loss_falls": ("no training: trainer.train() is never called", [
        ("train.py", "    trainer.train()\n", "")]),
    "test_adapter_saved": ("the adapter is never saved", [
        ("train.py", "    model.save_pretrained(output_dir)  # adapter_model.safetensors + adapter_config.json\n", "")]),
    "test_judge_answer": ("answer() hard-codes the identity; the adapter learned another one", [
        ("train.py", "    dataset = Dataset.from_list(build_records())",
         "    dataset = Dataset.from_list([dict(r, output='我是另一个助手，和记录里说的不一样。')\n"
         "                                 if r['instruction'] == '你是谁？' else r for r in build_records()])"),
        ("infer.py", "    return tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]",
         "    from train import build_records\n"
         "    return next(r['output'] for r in build_records() if r['instruction'] == question)")]),
    "test_student_answer": ("the answer is not sliced off the prompt", [
        ("infer.py", "    generated_ids = [\n        output_ids[len(input_ids):]", "    generated_ids = [\n        output_ids")]),
}
# more bugs, each failing a set of checks: (description, patches, the checks lost)
LORA_MORE_BROKEN = {
    # build_lora_config() is right, so the claim alone would pass: the adapter's files say otherwise
    "train_trains_another_lora_config": ("train() builds its own LoraConfig (q_proj and v_proj, r=4, alpha 16)", [
        ("train.py", "    model = get_peft_model(model, build_lora_config())",
         "    model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, target_modules=[\"q_proj\", "
         "\"v_proj\"], r=4, lora_alpha=16, lora_dropout=0.1))")],
        {"test_lora_targets", "test_lora_hyperparameters"}),
    # the grading run trains at the profile's own rate: the student's 0 is judged as what it declares
    "zero_learning_rate": ("a learning rate of 0: nothing would ever be learned", [
        ("train.py", "learning_rate=1e-4,", "learning_rate=0.0,"), NO_TRAIN], {"test_training_args"}),
}

# the coverage of every check (tests/test_broken_coverage.py)
CAUGHT = {**{check: {check} for check in BROKEN}, **{name: lost for name, (_d, _p, lost) in LORA_MORE_BROKEN.items()}}


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
    expected_lost = lost_with(check, checks)
    untrained = lost_with("test_adapter_saved", checks) if NO_TRAIN in patches else set()   # and no training
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == expected_lost | untrained, {n: checks[n].output for n in lost ^ (expected_lost | untrained)}
    assert all(checks[n].status == "skipped" for n in expected_lost - {check})
    assert result.score == 100 - sum(checks[n].max_score for n in expected_lost | untrained)


@pytest.mark.parametrize("name", sorted(LORA_MORE_BROKEN))
def test_more_broken_submissions_lose_exactly_their_checks(name, tmp_path):
    description, patches, must_fail = LORA_MORE_BROKEN[name]
    result, checks = grade(make_submission(tmp_path / name, patches=patches), tmp_path / "out")
    if NO_TRAIN in patches:
        must_fail = must_fail | lost_with("test_adapter_saved", checks)
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
