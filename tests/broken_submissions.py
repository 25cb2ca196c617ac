"""One broken submission per check: the bug it exists to catch, as a patch of the reference.

Each entry: the check that must fail, and the patches. A broken submission loses exactly that
check's points, plus the checks that declare it as a dependency (those are skipped, not failed).
"""
from __future__ import annotations

PROMPT = '''        f"<|im_start|>user\\n{example['instruction'] + example['input']}<|im_end|>\\n"'''
MASK = '''    labels = [-100] * len(instruction["input_ids"]) + response["input_ids"] + [tokenizer.pad_token_id]'''
END_IDS = '''    input_ids = instruction["input_ids"] + response["input_ids"] + [tokenizer.pad_token_id]'''
TARGETS = '''target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],'''

# A bug the quick inspection judges (the records, process_func, the TrainingArguments) is the same
# with or without training: its broken submission's train() also stops at once, which spares CI a
# training run (~40 s) and costs the training's checks too (tests/test_grading.py adds them).
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


# minicpm_deepspeed: name -> (description, patches, the checks it must fail). Several checks can
# rightly fail for one bug here (a ZeRO-3 config fails the config check and the engine check).
DS_STAGE = '"stage": 2,'
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
