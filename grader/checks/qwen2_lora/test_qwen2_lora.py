"""Checks of the qwen2_lora assignment. Each docstring-free check reads as its `en`/`zh` sentence.

Student code ran in the sandbox (fixtures `inspected` and `trained`); here, in the judge, we
only compare what came back with what we compute ourselves from the same fresh inputs.
"""
from __future__ import annotations

import pytest

import fixtures
from grader.judge import (LORA_TARGETS, MATCH, check, checked_call, conforms, encodings,
                          long_record_ids, prompt_len, read_lora_config, read_safetensors, replay, require,
                          require_attention_mask, require_exact_prompt, require_label_mask, require_learned,
                          require_losses_fall, require_taught_answer, show, similarity, student_max_length,
                          supervised, trained_lora)
from grader.checks.qwen2_lora.fresh import QUESTION, chatml_prompt, expected_parts

MAX_JUDGE_TOKENS = 384  # the tutorial's MAX_LENGTH: the judge measures the loss on as much
# the TrainingArguments fields the judge reads, as the probe records them

# ---------------------------------------------------------------- helpers (judge side)

@pytest.fixture(scope="session")
def real_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(fixtures.path("qwen2-real-tokenizer"))


def _system_prompt(inspected) -> str:
    system = inspected.value("constants", dict).get("SYSTEM_PROMPT")
    require(isinstance(system, str) and system.strip(),
            "train.py 里需要一个非空的 SYSTEM_PROMPT 字符串。", "train.py needs a non-empty SYSTEM_PROMPT string.")
    return system


def _identity(records) -> str | None:
    answers = [r.get("output") for r in records if isinstance(r, dict)
               and str(r.get("instruction", "")) + str(r.get("input", "")) == QUESTION]
    return answers[0] if answers and isinstance(answers[0], str) else None


def _encodings(inspected, real_tokenizer, fresh_records):
    """The student's encodings of the fresh records beside the expected parts (short ones, the long one)."""
    system = _system_prompt(inspected)
    return encodings(inspected, fresh_records, lambda record: expected_parts(real_tokenizer, record, system))


def _adapter(trained):
    """Where the training run saved the student's adapter (read as data by the judge)."""
    return trained.result.out_dir / "adapter"


def _trained_lora(trained) -> dict:
    """The LoRA settings of the adapter train() really trained, read from its files (adapter_data.trained_lora)."""
    trained.value("train")
    return trained_lora(_adapter(trained))


def _distinct_records(records, limit: int = 16) -> list[dict]:
    """The student's records as the judge uses them: well-formed, each text once, a few at most."""
    seen, out = set(), []
    for r in records if isinstance(records, list) else []:
        if not (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("instruction", "input", "output"))):
            continue
        key = (r["instruction"], r["input"], r["output"])
        if key not in seen and r["output"]:
            seen.add(key)
            out.append(r)
    return out[:limit]


# ---------------------------------------------------------------- records

@check(10,
       zh="指令集的每条记录都有 instruction / input / output，并教会模型回答“你是谁？”",
       en="The instruction records are {instruction, input, output} and teach an answer to 你是谁？",
       hint_zh="build_records() 返回字典列表，每条只有这三个字符串键；加入 instruction 为“你是谁？”的记录。",
       hint_en="build_records() returns a list of dicts with exactly those three string keys; include "
               "records whose instruction is 你是谁？ with the identity you want taught.")
def test_records(inspected):
    records = inspected.value("records", list)
    require(len(records) >= 2,
            "build_records() 应返回至少两条记录的列表。", "build_records() must return a list of at least two records.")
    for i, r in enumerate(records):
        require(isinstance(r, dict) and set(r) == {"instruction", "input", "output"}
                and all(isinstance(v, str) for v in r.values()),
                f"第 {i} 条记录应恰好有 instruction、input、output 三个字符串字段，实际是：{str(r)[:200]}",
                f"record {i} must have exactly the string keys instruction, input, output; got {str(r)[:200]}")
    identity = _identity(records)
    require(identity is not None and len(identity.strip()) >= 4,
            "没有 instruction+input 为“你是谁？”且有回答的记录。",
            "No record whose instruction + input is 你是谁？ with an answer of at least 4 characters.")
    outputs = {r["output"] for r in records if r["instruction"] + r["input"] == QUESTION}
    require(len(outputs) == 1, "“你是谁？”有多个不同的回答，模型学不会一个确定的身份。",
            "你是谁？ has several different answers: the model cannot learn one identity.")


# ---------------------------------------------------------------- process_func, real Qwen2 tokenizer

@check(10,
       zh="process_func 生成完全正确的 ChatML 提示词，后接回答",
       en="process_func builds the exact ChatML prompt, then the response",
       hint_zh="system、user（instruction + input）和 assistant 开头，每轮以 <|im_end|>\\n 结尾；"
               "用 add_special_tokens=False 分词。",
       hint_en="system, user (instruction + input) and the assistant header, each turn ending in "
               "<|im_end|>\\n; tokenize with add_special_tokens=False.")
def test_prompt_ids(inspected, real_tokenizer, fresh_records):
    short, _ = _encodings(inspected, real_tokenizer, fresh_records)
    require_exact_prompt(short, real_tokenizer)


@check(5,
       zh="input_ids 和 labels 在回答之后以结束符结尾",
       en="input_ids and labels end with the end token after the response",
       hint_zh="像教程一样在两者末尾加上 tokenizer.pad_token_id（<|endoftext|>），否则模型学不会停下。",
       hint_en="Append tokenizer.pad_token_id (<|endoftext|>) to both, as the tutorial does: without it "
               "the model never learns to stop.")
def test_end_token(inspected, real_tokenizer, fresh_records):
    short, _ = _encodings(inspected, real_tokenizer, fresh_records)
    ends = {real_tokenizer.pad_token_id, real_tokenizer.eos_token_id}
    for record, enc, prompt, response, _end in short:
        ids, labels = enc["input_ids"], enc["labels"]
        p = prompt_len(ids, response, len(prompt))
        require(len(ids) == p + len(response) + 1 and ids[-1] in ends and labels[-1] == ids[-1],
                f"回答之后应恰好有一个结束符（<|endoftext|> 或 <|im_end|>）；最后的 token 是 "
                f"{show(real_tokenizer, ids, len(ids) - 3)}",
                "Exactly one end token (<|endoftext|> or <|im_end|>) must follow the response in input_ids "
                "and labels.")


@check(10,
       zh="labels 恰好在提示词部分为 -100，之后是回答的 token",
       en="labels are -100 over exactly the prompt, then the response ids",
       hint_zh="labels = [-100] * 提示词长度 + 回答 ids + [结束符]：损失只计算回答部分。",
       hint_en="labels = [-100] * len(prompt ids) + response ids + [end]: the loss must only see the answer.")
def test_label_mask(inspected, real_tokenizer, fresh_records):
    short, _ = _encodings(inspected, real_tokenizer, fresh_records)
    require_label_mask(short)


@check(5,
       zh="attention_mask 全为 1，且三个列表长度一致",
       en="attention_mask is all ones and every list has the same length",
       hint_zh="结束符也需要被关注：为它补一个 1。",
       hint_en="The end token is attended to as well: add a 1 for it.")
def test_attention_mask(inspected, real_tokenizer, fresh_records):
    require_attention_mask(*_encodings(inspected, real_tokenizer, fresh_records))


@check(5,
       zh="超过 MAX_LENGTH 的记录被截断到 MAX_LENGTH 个 token",
       en="A record longer than MAX_LENGTH is cut to MAX_LENGTH tokens",
       hint_zh="拼好三个列表后，把它们都截断到 MAX_LENGTH。",
       hint_en="After building the three lists, cut each of them to MAX_LENGTH.")
def test_truncation(inspected, real_tokenizer, fresh_records):
    max_length = student_max_length(inspected, 384)
    _, (record, enc, prompt, response, end) = _encodings(inspected, real_tokenizer, fresh_records)
    full = long_record_ids(prompt, response, end, max_length)
    require(len(enc["input_ids"]) == max_length and enc["input_ids"] == full[:max_length]
            and len(enc["labels"]) == max_length and len(enc["attention_mask"]) == max_length,
            f"这条记录有 {len(full)} 个 token，应截断为 {max_length} 个，实际 input_ids 有 {len(enc['input_ids'])} 个。",
            f"That record has {len(full)} tokens and must be cut to {max_length}; input_ids has "
            f"{len(enc['input_ids'])}.")


# ---------------------------------------------------------------- LoraConfig and TrainingArguments

@check(5,
       zh="TrainingArguments 的取值合理",
       en="TrainingArguments make sense for a LoRA fine-tune",
       hint_zh="batch 与梯度累加至少为 1，几个 epoch，学习率约 1e-4（1e-6 到 5e-3 之间），logging_steps 至少为 1。",
       hint_en="Batch size and gradient accumulation at least 1, a few epochs, a learning rate around 1e-4 "
               "(between 1e-6 and 5e-3), logging_steps at least 1.")
def test_training_args(inspected):
    a = inspected.value("training_args")
    problems = []
    if not (isinstance(a["per_device_train_batch_size"], int) and a["per_device_train_batch_size"] >= 1):
        problems.append("per_device_train_batch_size")
    if not (isinstance(a["gradient_accumulation_steps"], int) and a["gradient_accumulation_steps"] >= 1):
        problems.append("gradient_accumulation_steps")
    if not (0 < float(a["num_train_epochs"]) <= 50 or (a["max_steps"] or 0) > 0):
        problems.append("num_train_epochs")
    if not (1e-6 <= float(a["learning_rate"]) <= 5e-3):
        problems.append("learning_rate")
    if not (float(a["logging_steps"]) > 0):
        problems.append("logging_steps")
    require(not problems, f"这些参数不合理：{problems}（取值 {a}）", f"These arguments make no sense: {problems} ({a})")


# ---------------------------------------------------------------- training, in the sandbox

@check(5,
       zh="adapter 以 safetensors 格式连同 adapter_config.json 一起保存",
       en="The adapter is saved as safetensors with its adapter_config.json",
       hint_zh="trainer.train() 之后，对 PEFT 模型调用 model.save_pretrained(output_dir)。",
       hint_en="After trainer.train(), call model.save_pretrained(output_dir) on the PEFT model.")
def test_adapter_saved(trained):
    trained.value("train")
    folder = _adapter(trained)
    tensors = read_safetensors(folder)
    read_lora_config(folder)
    require(any("lora_A" in k for k in tensors) and any("lora_B" in k for k in tensors),
            "adapter_model.safetensors 里没有 lora_A / lora_B 权重。",
            "adapter_model.safetensors holds no lora_A / lora_B weights.")


@check(5,
       zh="LoraConfig 作用于 Qwen2 的七个投影层，训练出的 adapter 也是如此",
       en="LoraConfig targets the seven projections of Qwen2, and so does the adapter trained",
       hint_zh='target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]',
       hint_en='target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]',
       depends=(test_adapter_saved,))
def test_lora_targets(inspected, trained):
    cfg = inspected.value("lora_config", dict)
    targets = cfg.get("target_modules")
    targets = {targets} if isinstance(targets, str) else set(targets) if conforms(targets, [str]) else set()
    require(targets == LORA_TARGETS, f"target_modules 缺少 {sorted(LORA_TARGETS - targets)}。",
            f"target_modules misses {sorted(LORA_TARGETS - targets)}, has extra {sorted(targets - LORA_TARGETS)}.",
            expected=sorted(LORA_TARGETS), actual=sorted(targets))
    # the adapter train() really trained: its config and the modules its weights sit on
    adapter = _trained_lora(trained)
    for where, got in (("adapter_config.json", adapter["target_modules"]), ("weights", adapter["weights_modules"])):
        require(set(got) == LORA_TARGETS,
                f"train() 训练出的 adapter（{where}）作用于 {got}，与 build_lora_config() 不一致：train() 要用 build_lora_config()。",
                f"The adapter train() trained ({where}) targets {got}, not what build_lora_config() gives: "
                f"train() must use build_lora_config().", expected=sorted(LORA_TARGETS), actual=got)


@check(5,
       zh="LoraConfig 为 CAUSAL_LM，r=8，lora_alpha=32，lora_dropout=0.1，训练模式，训练出的 adapter 也是如此",
       en="LoraConfig is CAUSAL_LM, r=8, lora_alpha=32, lora_dropout=0.1, training mode, and so is the adapter trained",
       hint_zh="缩放是 lora_alpha / r = 4；训练时 inference_mode=False。",
       hint_en="The scaling is lora_alpha / r = 4; inference_mode=False while training.",
       depends=(test_adapter_saved,))
def test_lora_hyperparameters(inspected, trained):
    cfg = inspected.value("lora_config", dict)
    want = {"task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 32, "lora_dropout": 0.1, "inference_mode": False}
    wrong = {k: cfg.get(k) for k, v in want.items() if cfg.get(k) != v}
    require(not wrong, f"这些值不对：{wrong}（应为 {want}）", f"These values are wrong: {wrong} (want {want})")
    # the adapter train() really trained (saved adapters say inference_mode: true, whatever trained them)
    adapter = _trained_lora(trained)
    trained_want = {**{k: v for k, v in want.items() if k != "inference_mode"}, "weights_r": 8}
    wrong = {k: adapter[k] for k, v in trained_want.items() if adapter[k] != v}
    require(not wrong, f"train() 训练出的 adapter 的这些值与 build_lora_config() 不一致：{wrong}：train() 要用 build_lora_config()。",
            f"The adapter train() trained disagrees with build_lora_config() on {wrong}: train() must use "
            f"build_lora_config().", expected=trained_want, actual={k: adapter[k] for k in trained_want})

@check(10,
       zh="在评分配置下真实训练一小段，损失下降（评分器也会自己计算）",
       en="A short real training run (grading profile) makes the loss fall, as the grader measures it too",
       hint_zh="train() 要对编码后的数据调用 trainer.train() 并返回 Trainer。评分器会为小替身模型换用自己的学习率与轮数，"
               "再自己计算加上和不加你的 adapter 时在你的记录上的损失。",
       hint_en="train() must call trainer.train() on the tokenized records with the LoRA model and return "
               "the Trainer. The grader uses its own lr and epochs for its tiny stand-in model, then computes "
               "the loss on your records itself, with and without your adapter.",
       depends=(test_adapter_saved,))
def test_training_loss_falls(inspected, trained, judge):
    # The adapter is data: the judge measures the loss itself, on the records the run trained on (the
    # bounded sample of a long instruction set, else all of them); the logged curve is a claim.
    losses = trained.value("train", dict).get("losses")
    sample = trained.optional("sample")
    records = _distinct_records(sample["records"] if sample else None)
    records = records or _distinct_records(inspected.value("records", list))
    require(records, "没有可用的训练记录。", "There are no usable training records.")
    tokenizer, evaluator = judge
    system = _system_prompt(inspected)
    examples = [supervised(*expected_parts(tokenizer, r, system), limit=MAX_JUDGE_TOKENS) for r in records]
    require_learned(evaluator.loss(examples), evaluator.loss(examples, adapter=_adapter(trained)),
                    "评分器在你的记录上算出的损失（基座模型 / 加上你的 adapter）",
                    "The grader's own loss on your records (base model / with your adapter)")
    require_losses_fall(losses)


@check(15,
       zh="评分器加载基座模型和你的 adapter，回答“你是谁？”时说出你教给它的身份",
       en="Base model + your adapter (loaded by the grader) answers 你是谁？ with the identity you taught",
       hint_zh="评分器用你的 SYSTEM_PROMPT 构造 ChatML 提示词并贪心解码；未训练的基座模型答不出，所以身份必须来自你的训练。",
       hint_en="The grader greedy-decodes the ChatML prompt with your SYSTEM_PROMPT; the untrained base "
               "must not give that answer, so the identity has to come from your training.",
       depends=(test_records, test_training_loss_falls))
def test_judge_answer(inspected, trained, judge):
    identity = _identity(inspected.value("records", list))
    tokenizer, evaluator = judge
    prompt = tokenizer(chatml_prompt(_system_prompt(inspected), QUESTION))["input_ids"]
    greedy = {"do_sample": False, "max_new_tokens": len(tokenizer(identity, add_special_tokens=False)["input_ids"]) + 16}

    def answer(adapter=None) -> str:
        return tokenizer.decode(evaluator.generate(prompt, greedy, adapter=adapter), skip_special_tokens=True)

    require_taught_answer(answer(), answer(_adapter(trained)),
                          identity, "加载你的 adapter 后，", "With your adapter, ")


@check(10,
       zh="你自己的推理代码（PeftModel + 聊天模板）回答“你是谁？”，且去掉了提示词",
       en="Your own inference code (PeftModel + chat template) answers 你是谁？ with the identity, prompt sliced off",
       hint_zh="用 SYSTEM_PROMPT 套聊天模板生成，解码前去掉提示词部分（output_ids[len(input_ids):]），并 "
               "skip_special_tokens=True。评分器会用基座模型加你的 adapter 重放你的 generate 调用，逐字比较。",
       hint_en="Apply the chat template with SYSTEM_PROMPT, generate, then drop the prompt's tokens "
               "(output_ids[len(input_ids):]) and decode with skip_special_tokens=True. The grader replays your "
               "generate call on the base model with your adapter and compares the text exactly.",
       depends=(test_judge_answer,))
def test_student_answer(inspected, trained, judge):
    identity = _identity(inspected.value("records", list))
    answer = trained.value("answer")
    require(QUESTION not in answer and "assistant\n" not in answer,
            f"回答里还带着提示词（问题或角色名）：{answer[:160]!r}。请切掉提示词部分的 token。",
            f"The answer still contains the prompt (the question or role names): {answer[:160]!r}. Slice the "
            f"prompt's tokens off.")
    calls = trained.value("answer_generate_calls")
    require(calls, "answer() 没有调用 model.generate。", "answer() never called model.generate.")
    tokenizer, evaluator = judge
    call = checked_call(calls[-1], tokenizer)
    expected = replay(call, tokenizer, evaluator, adapter=_adapter(trained))
    # exactly the model's text: no prompt, no special-token text (<|im_end|>), whatever MATCH allows
    require(answer.strip() == expected.strip(),
            "你的 answer() 返回的文字与模型生成的不同（是否没有 skip_special_tokens=True？）。",
            "The text your answer() returned differs from what the model generated (decoded without "
            "skip_special_tokens=True?).", expected=expected[:200], actual=answer[:200])
    require(similarity(answer, identity) >= MATCH,
            "你的 answer() 返回的回答与教给模型的身份不一致。", "Your answer() does not start with the identity taught.",
            expected=identity[:160], actual=answer[:160])
