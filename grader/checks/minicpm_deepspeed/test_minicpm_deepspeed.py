"""Checks of the minicpm_deepspeed assignment (MiniCPM-2B, DeepSpeed ZeRO-2 + CPU offload, LoRA and full).

Student code ran in the sandbox (fixtures `inspected` and `launched`); here, in the judge, we compare
what came back with what we compute ourselves: encodings of fresh records with the stand-in's own
tokenizer, the student's ds_config.json built into a real DeepSpeed config, and the saved weights
loaded as data into the grader's own MiniCPM code, which must answer 你是谁？ as the dataset teaches.
"""
from __future__ import annotations

import json
import math
import os

from grader.judge import (NUMBER, attach_lora, check, conforms, encodings, fail, judge_loss,
                          long_record_ids, prompt_len, read_json_object, read_safetensors, require,
                          require_attention_mask, require_exact_prompt, require_label_mask, require_learned,
                          require_losses_fall, require_taught_answer, show, student_max_length, supervised)
from grader.checks.minicpm_deepspeed import fresh

MAX_CONFIG_BYTES = 256 * 1024
SHAPE_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "vocab_size")
MODES = {"lora": "LoRA", "full": "全量 / full"}
# what the probe and the DeepSpeed hook record (student data: the judge reads no other shape)


# ---------------------------------------------------------------- helpers (judge side)

def _encodings(inspected, tokenizer, fresh_records):
    """The student's encodings of the fresh records beside the expected parts (short ones, the long one)."""
    return encodings(inspected, fresh_records, lambda record: fresh.expected_parts(tokenizer, record))


# the tutorial's TrainingArguments (train.sh), for a config judged before any launch told the student's own
TUTORIAL_ARGS = {"learning_rate": 1e-4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
                 "max_grad_norm": 1.0, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999,
                 "adam_epsilon": 1e-8, "fp16": False, "bf16": False, "num_train_epochs": 3}


def _training_steps(args: dict) -> int:
    """The optimizer steps HF's Trainer counts for these arguments on the course's dataset (an explicit
    scheduler total_num_steps is held to it)."""
    batches = math.ceil(len(fresh.dataset()) / max(1, int(args["per_device_train_batch_size"])))
    per_epoch = max(math.ceil(batches / max(1, int(args["gradient_accumulation_steps"]))), 1)
    return math.ceil(float(args["num_train_epochs"]) * per_epoch)


def _student_args(launched) -> dict:
    """The TrainingArguments the student's train.sh really gave (our hook saw them before the
    profile's overrides), else the tutorial's: explicit DeepSpeed values are held to these."""
    for mode in MODES:
        facts = (launched[mode].entry("ranks") or {}).get("value") or {}
        seen = (facts.get("ds-rank0") or {}).get("student_args") if isinstance(facts, dict) else None
        if isinstance(seen, dict) and all(conforms(seen.get(k), NUMBER) and 0 <= seen[k] <= 1e6 for k in TUTORIAL_ARGS):
            return {k: seen[k] for k in TUTORIAL_ARGS}
    return dict(TUTORIAL_ARGS)


def _engine_config(assignment_dir, minicpm, student_args: dict):
    """The student's ds_config.json as DeepSpeed itself builds it, after HF filled in the "auto"
    fields from the student's own TrainingArguments and checked that explicit values agree with
    them (HF's own rule): (the raw dict, DeepSpeedConfig)."""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    from types import SimpleNamespace

    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    raw = read_json_object(assignment_dir / "ds_config.json", "ds_config.json", MAX_CONFIG_BYTES)
    # what HF's trainer_config_process/finalize read of TrainingArguments, with the student's values
    # (a real TrainingArguments refuses fp16 without a GPU)
    args = SimpleNamespace(**student_args, world_size=1, fp16_full_eval=False, bf16_full_eval=False,
                           save_on_each_node=False, get_warmup_steps=lambda steps: 0)
    try:
        hf = HfTrainerDeepSpeedConfig(json.loads(json.dumps(raw)))
        hf.trainer_config_process(args)
        hf.trainer_config_finalize(args, minicpm[1](), num_training_steps=_training_steps(student_args))
        built = DeepSpeedConfig(hf.config)
    except Exception as exc:  # DeepSpeed's and HF's own validation errors, shown as they say them
        fail(f"DeepSpeed / transformers 拒绝了 ds_config.json：\n{str(exc)[:1500]}",
             "DeepSpeed or transformers rejected ds_config.json (their message is above).")
    return raw, built


def _examples(tokenizer, records: list[dict]) -> list:
    """The records trained on, as the judge encodes them, for its own loss."""
    return [supervised(*fresh.expected_parts(tokenizer, record)) for record in records]


def _question_ids(inspected, tokenizer) -> list[int]:
    """The prompt for 你是谁？ as the student's process_func writes it (the format their weights were
    taught), or the course's own when process_func gave nothing usable. Only generated tokens count."""
    prompt, response, _end = fresh.expected_parts(tokenizer, fresh.identity_record())
    encoding = inspected.optional("identity")
    ids = encoding["input_ids"] if encoding else None
    if not (ids is not None and all(0 <= i < len(tokenizer) for i in ids)):
        return prompt
    start = prompt_len(ids, response, -1)
    return ids[:start] if 0 < start <= 256 else prompt


def _answer(model, tokenizer, prompt_ids: list[int]) -> str:
    import torch
    ids = torch.tensor([prompt_ids], device=model.device)
    budget = len(tokenizer(fresh.identity(), add_special_tokens=False)["input_ids"]) + 8
    # one thread: a greedy answer must not depend on how many threads a loaded machine gives the
    # judge (seen: a near tie between two tokens went either way under load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=budget, pad_token_id=tokenizer.eos_token_id)
    finally:
        torch.set_num_threads(threads)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def _rank(launched, mode: str, trained: bool = True) -> dict:
    """What our hook saw in the training process of ``mode`` (rank 0), or a failure saying why not.
    ``trained``: training must have finished and train.sh exited 0; else it is enough that a rank ran."""
    run = launched[mode]
    launch = run.value("launch")
    facts = (run.value("ranks") or {}).get("ds-rank0") or {}
    if not facts or (trained and (launch["returncode"] != 0 or not facts.get("train_finished"))):
        fail(f"{MODES[mode]} 训练没有正常结束（train.sh 退出码 {launch['returncode']}）。输出的最后部分：\n"
             f"{launch['output'][-2500:]}",
             f"{mode} training did not finish (train.sh exit code {launch['returncode']}); the end of its "
             f"output is above.")
    return facts


def _full_model(launched, minicpm):
    """The judge's MiniCPM with the student's saved full weights: config.json checked, safetensors only."""
    folder = launched["full"].result.out_dir / "full"
    config = read_json_object(folder / "config.json", "output/config.json", MAX_CONFIG_BYTES)
    base = minicpm[1]()
    wrong = {k: config.get(k) for k in SHAPE_KEYS if config.get(k) != getattr(base.config, k)}
    require(not wrong, f"保存的 config.json 和 MiniCPM 替身对不上：{wrong}",
            f"The saved config.json does not match the MiniCPM model: {wrong}")
    weights = folder / "model.safetensors"
    require(weights.is_file() and not weights.is_symlink(),
            "输出文件夹里没有 model.safetensors：训练结束后请调用 trainer.save_model(output_dir)。（ZeRO-3 默认只保存"
            "分片的检查点，评分器不会读取 pickle。）",
            "There is no model.safetensors in the output folder: call trainer.save_model(output_dir) after "
            "training. (Under ZeRO-3 DeepSpeed saves only partitioned, pickled checkpoints, which the grader never "
            "loads.)")
    tensors = read_safetensors(folder, "model.safetensors")
    expected = base.state_dict()
    unexpected = sorted(set(tensors) - set(expected))
    missing = sorted(set(expected) - set(tensors) - {"lm_head.weight"})   # tied to the embeddings
    require(not unexpected and not missing,
            f"model.safetensors 的权重和模型对不上：多了 {unexpected[:3]}，缺少 {missing[:3]}",
            f"model.safetensors does not fit the model: unexpected {unexpected[:3]}, missing {missing[:3]}")
    bad = [k for k, v in tensors.items() if v.shape != expected[k].shape]
    require(not bad, f"这些权重的形状不对：{bad[:3]}", f"These tensors have the wrong shape: {bad[:3]}")
    base.load_state_dict(tensors, strict=False)
    base.tie_weights()
    base.eval()
    return base


def _lora_model(launched, minicpm):
    return attach_lora(minicpm[1](), launched["lora"].result.out_dir / "lora")


# ---------------------------------------------------------------- process_func and the tokenizer

@check(10,
       zh="process_func 生成完全正确的 <用户>{instruction+input}<AI> 提示词，后接回答",
       en="process_func builds the exact <用户>{instruction+input}<AI> prompt, then the response",
       hint_zh="tokenizer(f\"<用户>{example['instruction'] + example['input']}<AI>\", add_special_tokens=False)，"
               "回答同样分词。",
       hint_en="tokenizer(f\"<用户>{example['instruction'] + example['input']}<AI>\", add_special_tokens=False), "
               "then the response tokenized the same way.")
def test_prompt_ids(inspected, minicpm, fresh_records):
    short, _ = _encodings(inspected, minicpm[0], fresh_records)
    require_exact_prompt(short, minicpm[0])


@check(5,
       zh="input_ids 和 labels 在回答之后以 pad（= eos，</s>）结尾",
       en="input_ids and labels end with pad = eos (</s>) after the response",
       hint_zh="build_tokenizer 里设置 tokenizer.pad_token_id = tokenizer.eos_token_id；process_func 在 input_ids "
               "和 labels 末尾加上 tokenizer.pad_token_id。",
       hint_en="build_tokenizer sets tokenizer.pad_token_id = tokenizer.eos_token_id; process_func appends "
               "tokenizer.pad_token_id to input_ids and labels.")
def test_end_token(inspected, minicpm, fresh_records):
    tokenizer = minicpm[0]
    short, _ = _encodings(inspected, tokenizer, fresh_records)
    for record, enc, prompt, response, end in short:
        ids, labels = enc["input_ids"], enc["labels"]
        p = prompt_len(ids, response, len(prompt))
        require(len(ids) == p + len(response) + 1 and ids[-1] == end and labels[-1] == end,
                f"回答之后应恰好有一个 </s>（id {end}）；最后的 token 是 {show(tokenizer, ids, len(ids) - 3)}",
                f"Exactly one </s> (id {end}) must follow the response in input_ids and labels.")


@check(10,
       zh="labels 恰好在提示词部分为 -100，之后是回答的 token",
       en="labels are -100 over exactly the prompt, then the response ids",
       hint_zh="labels = [-100] * 提示词长度 + 回答 ids + [pad_token_id]：损失只计算回答部分。",
       hint_en="labels = [-100] * len(prompt ids) + response ids + [pad_token_id]: the loss only sees the answer.")
def test_label_mask(inspected, minicpm, fresh_records):
    short, _ = _encodings(inspected, minicpm[0], fresh_records)
    require_label_mask(short)


@check(5,
       zh="attention_mask 全为 1，三个列表一样长，超长记录截断到 MAX_LENGTH",
       en="attention_mask is all ones, the lists are equally long, and a long record is cut to MAX_LENGTH",
       hint_zh="结束符也要关注（为它补一个 1）；三个列表都截断到 MAX_LENGTH（512）。",
       hint_en="The end token is attended to as well (a 1 for it); cut all three lists to MAX_LENGTH (512).")
def test_attention_and_truncation(inspected, minicpm, fresh_records):
    tokenizer = minicpm[0]
    short, long = _encodings(inspected, tokenizer, fresh_records)
    require_attention_mask(short, long)
    _record, long_enc, prompt, response, end = long
    max_length = student_max_length(inspected, 512)
    full = long_record_ids(prompt, response, end, max_length)
    ids = long_enc["input_ids"]
    # measured against the student's own prompt (the prompt check judges that): some prompt, then
    # the response, cut at MAX_LENGTH
    cut_right = len(ids) == max_length and any(ids[p:] == response[:max_length - p] for p in range(1, min(len(ids), 256)))
    require(cut_right,
            f"这条记录有 {len(full)} 个 token，应截断为 {max_length} 个，实际有 {len(ids)} 个。",
            f"That record has {len(full)} tokens and must be cut to {max_length}; input_ids has {len(ids)}.")


@check(10,
       zh="用 DataCollatorForSeq2Seq 组成批次时，记录在右侧用 pad（= eos）填充",
       en="Batched by DataCollatorForSeq2Seq, the records are padded on the right with pad = eos",
       hint_zh="在 build_tokenizer 里：tokenizer.padding_side = 'right'，tokenizer.pad_token_id = "
               "tokenizer.eos_token_id（MiniCPM 的分词器本身没有 pad）。",
       hint_en="In build_tokenizer: tokenizer.padding_side = 'right' and tokenizer.pad_token_id = "
               "tokenizer.eos_token_id (MiniCPM's tokenizer has no pad token of its own).")
def test_right_padding(inspected, minicpm, fresh_records):
    """The judge batches the student's encodings itself, with the real DataCollatorForSeq2Seq over its
    own copy of the tokenizer set as the student's build_tokenizer set theirs: what is graded is the
    batch the collator really makes of those two settings, not a batch the sandbox reports."""
    import copy

    from transformers import DataCollatorForSeq2Seq

    eos = minicpm[0].eos_token_id
    facts = inspected.value("tokenizer_facts")
    require(facts.get("pad_token_id") == eos,
            f"pad_token_id 是 {facts.get('pad_token_id')}，应等于 eos_token_id {eos}。",
            f"pad_token_id is {facts.get('pad_token_id')}; it must equal eos_token_id {eos}.")
    require(facts.get("padding_side") in ("left", "right"),
            f"分词器的 padding_side 是 {facts.get('padding_side')!r}，应为 'right'。",
            f"The tokenizer's padding_side is {facts.get('padding_side')!r}; it must be 'right'.")
    encoded = inspected.value("process_func")[:-1]   # the long record would only make every row long
    require(all(0 <= i < len(minicpm[0]) for e in encoded for i in e["input_ids"]),
            "process_func 的 input_ids 超出了词表。", "process_func's input_ids fall outside the vocabulary.")
    tokenizer = copy.deepcopy(minicpm[0])   # a shallow copy would set pad on the judge's own tokenizer
    tokenizer.padding_side, tokenizer.pad_token_id = facts["padding_side"], eos
    batch = {k: v.tolist() for k, v in DataCollatorForSeq2Seq(tokenizer=tokenizer, padding=True)(
        [{k: list(e[k]) for k in ("input_ids", "attention_mask", "labels")} for e in encoded]).items()}
    width = max(len(e["input_ids"]) for e in encoded)
    for enc, ids, labels in zip(encoded, batch["input_ids"], batch["labels"]):
        n = len(enc["input_ids"])
        require(len(ids) == width and ids[:n] == enc["input_ids"] and ids[n:] == [eos] * (width - n),
                "批次里的 input_ids 不是“原序列在前、pad 在右”：请设置 padding_side = 'right'。",
                "In the batch, input_ids are not the record followed by pad tokens on the right: set "
                "padding_side = 'right'.")
        require(labels[:n] == enc["labels"] and labels[n:] == [-100] * (width - n),
                "批次里 labels 的填充应在右侧且为 -100。", "In the batch, labels must be padded on the right with -100.")


# ---------------------------------------------------------------- ds_config.json, built for real

@check(5,
       zh='ds_config.json 能构建成真实的 DeepSpeed 配置，并与你的 TrainingArguments 一致',
       en='ds_config.json builds into a real DeepSpeed config that agrees with your TrainingArguments',
       hint_zh='batch size、梯度累加、gradient_clipping 以及优化器的 lr、betas、eps、weight_decay 由 TrainingArguments '
               '决定：写成 "auto"（或与 train.sh 传入的值完全相同），两边才不会矛盾。',
       hint_en='Batch sizes, accumulation, gradient_clipping and the optimizer\'s lr, betas, eps and weight decay come '
               'from TrainingArguments: write "auto" (or exactly the values train.sh passes), so the two cannot disagree.')
def test_ds_config_builds(assignment_dir, minicpm, launched):
    _engine_config(assignment_dir, minicpm, _student_args(launched))


@check(10,
       zh="ds_config.json 使用 ZeRO stage 2，并把优化器 offload 到 CPU",
       en="ds_config.json runs ZeRO stage 2 with the optimizer offloaded to the CPU",
       hint_zh='"zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": false}, ...}',
       hint_en='"zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": false}, ...}',
       depends=(test_ds_config_builds,))
def test_ds_config_zero2_offload(assignment_dir, minicpm, launched):
    _raw, built = _engine_config(assignment_dir, minicpm, _student_args(launched))
    stage = int(built.zero_config.stage)
    offload = built.zero_config.offload_optimizer
    device = getattr(offload, "device", None)
    device = getattr(device, "value", device)   # an enum or, as pydantic may keep it, a str
    require(stage == 2, f"ZeRO stage 是 {stage}，应为 2。", f"The ZeRO stage is {stage}; it must be 2.")
    require(device == "cpu", f"优化器 offload 设备是 {device}，应为 cpu。",
            f"The optimizer is offloaded to {device}; it must be offloaded to cpu.")


# ---------------------------------------------------------------- train.sh, launched for real

@check(10,
       zh="train.sh 通过真实的 deepspeed 启动器运行 train.py（LoRA 与全量）",
       en="train.sh starts train.py through the real deepspeed launcher (LoRA and full)",
       hint_zh='deepspeed --num_gpus 1 train.py --deepspeed ./ds_config.json ... "$@"（不要用 python train.py）；'
               '把额外参数 "$@" 传下去：评分器会加上 --model_path、--output_dir 和 --use_lora True。',
       hint_en='deepspeed --num_gpus 1 train.py --deepspeed ./ds_config.json ... "$@" (not python train.py); '
               'pass the extra arguments "$@" on: the grader adds --model_path, --output_dir and --use_lora True.')
def test_launcher(launched):
    for mode in MODES:
        launcher = launched[mode].value("launcher")
        launch = launched[mode].value("launch")
        require(isinstance(launcher, dict) and conforms(launcher.get("argv"), [str]) and "train.py" in launcher["argv"],
                f"{MODES[mode]}：train.sh 没有通过 deepspeed 启动器运行 train.py。输出的最后部分：\n"
                f"{launch['output'][-1500:]}",
                f"{mode}: train.sh did not start train.py through the deepspeed launcher (its output is above).")
        args = _rank(launched, mode, trained=False).get("training_args") or {}
        require(args.get("deepspeed"), f"{MODES[mode]}：训练时没有传入 --deepspeed 配置。",
                f"{mode}: training ran without --deepspeed (the DeepSpeed config).")


@check(10,
       zh="训练引擎确实运行了 ZeRO stage 2 和 DeepSpeed 的 CPU Adam（LoRA 与全量）",
       en="The engine really ran ZeRO stage 2 with DeepSpeed's CPU Adam (LoRA and full)",
       hint_zh='让 Trainer 根据 ds_config.json 构建引擎（TrainingArguments 的 --deepspeed）：优化器 offload 时，写 '
               '"optimizer" 部分（AdamW，参数为 "auto"）或不写，都会用 DeepSpeed 的 CPU Adam；自己传给 Trainer 的优化器则不会。',
       hint_en="Let Trainer build the engine from ds_config.json (TrainingArguments --deepspeed): with the "
               'optimizer offloaded, an "optimizer" section (AdamW, "auto" params) or none at all gives DeepSpeed\'s '
               "CPU Adam; a custom optimizer passed to Trainer does not.")
def test_engine_zero2_cpu_adam(launched):
    for mode in MODES:
        engine = _rank(launched, mode, trained=False).get("engine") or {}
        require(engine, f"{MODES[mode]}：没有构建 DeepSpeed 引擎。", f"{mode}: no DeepSpeed engine was built.")
        require(engine.get("zero_stage") == 2, f"{MODES[mode]}：引擎运行的是 ZeRO stage {engine.get('zero_stage')}。",
                f"{mode}: the engine ran ZeRO stage {engine.get('zero_stage')}, not 2.")
        require(engine.get("offload_optimizer_cpu") is True, f"{MODES[mode]}：优化器没有 offload 到 CPU。",
                f"{mode}: the optimizer was not offloaded to the CPU.")
        require(engine.get("basic_optimizer") == "DeepSpeedCPUAdam",
                f"{MODES[mode]}：优化器是 {engine.get('basic_optimizer')}，不是 DeepSpeedCPUAdam。",
                f"{mode}: the optimizer was {engine.get('basic_optimizer')}, not DeepSpeedCPUAdam.")


@check(5,
       zh="LoRA 模式训练出 adapter（损失下降，评分器也会自己计算），并以 safetensors 保存",
       en="LoRA mode trains an adapter (loss falls, as the grader measures too) and saves it as safetensors",
       hint_zh="--use_lora True 时：在创建 Trainer 之前 model = get_peft_model(model, config)，最后 trainer.save_model(output_dir)。",
       hint_en="With --use_lora True: model = get_peft_model(model, config) before the Trainer, and "
               "trainer.save_model(output_dir) at the end.")
def test_lora_training(launched, minicpm, training_records):
    facts = _rank(launched, "lora")
    # the judge's own evidence first (the saved adapter, its own loss), then what the run logged
    tokenizer, load = minicpm
    examples = _examples(tokenizer, training_records)
    require_learned(judge_loss(load(), examples), judge_loss(_lora_model(launched, minicpm), examples),
                    "评分器算出的损失（基座 / 加上你的 adapter）", "The grader's own loss (base / with your adapter)")
    model_facts = facts.get("model") or {}
    require(model_facts.get("peft") and 0 < model_facts.get("trainable", 0) < 0.2 * model_facts.get("total", 1),
            f"LoRA 模式训练的不是 LoRA 模型：{model_facts}", f"LoRA mode did not train a LoRA model: {model_facts}")
    require_losses_fall(facts.get("losses"), f"{MODES['lora']}：", "lora: ")


@check(5,
       zh="全量模式训练全部权重（损失下降，评分器也会自己计算），并保存 model.safetensors",
       en="Full mode trains every weight (loss falls, as the grader measures too) and saves model.safetensors",
       hint_zh="不加 --use_lora 时把模型本身交给 Trainer；最后 trainer.save_model(output_dir)。",
       hint_en="Without --use_lora the model itself goes to the Trainer; trainer.save_model(output_dir) at the end.")
def test_full_training(launched, minicpm, training_records):
    facts = _rank(launched, "full")
    tokenizer, load = minicpm
    examples = _examples(tokenizer, training_records)
    require_learned(judge_loss(load(), examples), judge_loss(_full_model(launched, minicpm), examples),
                    "评分器算出的损失", "The grader's own loss")
    model_facts = facts.get("model") or {}
    require(not model_facts.get("peft") and model_facts.get("trainable") == model_facts.get("total"),
            f"全量模式没有训练全部权重：{model_facts}", f"Full mode did not train every weight: {model_facts}")
    require_losses_fall(facts.get("losses"), f"{MODES['full']}：", "full: ")


def _check_answer(model, minicpm, inspected, mode: str) -> None:
    tokenizer, load = minicpm
    identity = fresh.identity()
    prompt = _question_ids(inspected, tokenizer)
    require_taught_answer(_answer(load(), tokenizer, prompt), _answer(model, tokenizer, prompt), identity,
                          f"{MODES[mode]}：", f"{mode}: ")


@check(10,
       zh="评分器加载替身模型和你的 LoRA adapter，回答“你是谁？”与数据集教的一致",
       en="The stand-in + your LoRA adapter (loaded by the grader) answers 你是谁？ as the dataset teaches",
       hint_zh="评分器用自己的 MiniCPM 代码和你的 adapter safetensors，对数据集里的“你是谁？”（用你 process_func 的提示词）"
               "贪心解码；未训练的模型答不出。",
       hint_en="The grader greedy-decodes the dataset's 你是谁？ (in your process_func's prompt) with its own "
               "MiniCPM code and your adapter's safetensors; the untrained model does not know the answer.",
       depends=(test_lora_training,))
def test_lora_answer(launched, minicpm, inspected):
    _check_answer(_lora_model(launched, minicpm), minicpm, inspected, "lora")


@check(5,
       zh="评分器把你全量训练的权重作为数据加载，回答“你是谁？”与数据集教的一致",
       en="Your fully trained weights (loaded by the grader as data) answer 你是谁？ as the dataset teaches",
       hint_zh="只读取 model.safetensors 和 config.json，装进评分器自己的 MiniCPM 代码（绝不运行输出里的 modeling_minicpm.py）。",
       hint_en="Only model.safetensors and config.json are read, into the grader's own MiniCPM code (never a "
               "modeling_minicpm.py from your output).",
       depends=(test_full_training,))
def test_full_answer(launched, minicpm, inspected):
    _check_answer(_full_model(launched, minicpm), minicpm, inspected, "full")
