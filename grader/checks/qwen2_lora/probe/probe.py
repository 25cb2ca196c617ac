"""Probe for qwen2_lora, run inside the sandbox: `probe.py inspect|train`.

inspect: the records, process_func on the judge's fresh records with the real Qwen2 tokenizer,
         the LoraConfig and the TrainingArguments, as data.
train:   the student's own train() under the grading profile's overrides, on a bounded sample of the
         student's own records (every one that asks 你是谁？ kept), then the student's own answer() to
         "你是谁？". The adapter stays in OUT/adapter for the judge to read as data.
"""
import math
import os
import random

from _probe_common import OUT, Recorder, encoding_as_data, load_student_module, probe_main, record_generate

import torch  # noqa: E402  (imported before student code so a shadow module cannot replace it)
import transformers  # noqa: E402


def inspect(rec: Recorder, given: dict) -> None:
    mod = load_student_module("train.py", rec, "import_train")
    if mod is None:
        return
    rec.note("constants", {"SYSTEM_PROMPT": getattr(mod, "SYSTEM_PROMPT", None),
                           "MAX_LENGTH": getattr(mod, "MAX_LENGTH", None)})
    rec.step("records", lambda: _records(mod.build_records()))
    tokenizer = transformers.AutoTokenizer.from_pretrained(given["real_tokenizer"])
    rec.step("process_func", lambda: [encoding_as_data(mod.process_func(dict(r), tokenizer))
                                      for r in given["fresh_records"]])
    rec.step("lora_config", lambda: mod.build_lora_config().to_dict())
    rec.step("training_args", lambda: _args_summary(mod.build_training_args(str(OUT / "args-probe"))))


def train(rec: Recorder, given: dict) -> None:
    mod = load_student_module("train.py", rec, "import_train")
    if mod is None:
        return
    model_dir = rec.step("model_dir", _resolve_model, mod)
    if model_dir is None:
        return
    out_dir = str(OUT / "adapter")
    args = rec.step("training_args", lambda: mod.build_training_args(out_dir))
    if args is None:
        return
    overrides = given["overrides"]
    args = _with_overrides(args, overrides)
    rows = rec.step("sample", _bounded_records, mod, given)
    if rows and args.max_steps <= 0:
        # the same training for any instruction set: each distinct record is seen at least `exposures`
        # times, so the tutorial's two records repeated a hundred times and a dozen 甄嬛 records
        # each seen once per epoch learn alike
        args.num_train_epochs = max(args.num_train_epochs,
                                    math.ceil(given["exposures"] * rows["distinct"] / rows["rows"]))

    # No check that enable_input_require_grads() is called with gradient checkpointing: since
    # transformers 5 / peft 0.21 gradient_checkpointing_enable() and PEFT call it themselves.
    torch.manual_seed(0)
    trainer = rec.step("train", lambda: _summary(mod.train(model_dir, out_dir, args)))
    if trainer is None:
        return
    infer = load_student_module("infer.py", rec, "import_infer")
    if infer is None:
        return
    torch.set_num_threads(1)  # the judge replays the answer's generation single-threaded: same arithmetic
    calls = record_generate(given["seeds"])
    rec.step("answer", lambda: _text(infer.answer(model_dir, out_dir, given["question"])))
    rec.note("answer_generate_calls", calls)


def _bounded_records(mod, given: dict):
    """The student's build_records(), bounded: a list of at most ``sample_distinct`` distinct records
    (and ``sample_rows`` rows) stays as it is; a longer one (the 甄嬛 dataset's 3,729) becomes every
    distinct record that asks 你是谁？ plus others drawn with the judge's seed, up to that many, each
    once. train() reads the sample through build_records(); what was sampled is recorded."""
    rows = mod.build_records()
    if not isinstance(rows, list) or not rows:
        return None   # train() meets the same error or emptiness the checks of the records report
    distinct = {}
    for row in rows:
        distinct.setdefault(repr(sorted(row.items())) if isinstance(row, dict) else repr(row), row)
    records, most = list(distinct.values()), given["sample_distinct"]
    sample = rows
    if len(records) > most or len(rows) > given["sample_rows"]:
        asks = [i for i, r in enumerate(records) if isinstance(r, dict)
                and str(r.get("instruction", "")) + str(r.get("input", "")) == given["question"]][:most]
        others = sorted(set(range(len(records))) - set(asks))
        drawn = random.Random(given["sample_seed"]).sample(others, min(most - len(asks), len(others)))
        sample = [records[i] for i in sorted(asks + drawn)]   # each once, in the student's order
    mod.build_records = lambda: [dict(r) if isinstance(r, dict) else r for r in sample]
    return {"rows": len(sample), "distinct": len(records) if sample is rows else len(sample), "of": len(rows),
            "records": sample[:64]}


def _resolve_model(mod) -> str:
    """The student's own download_model(): modelscope resolves it offline (hooks/course_env.py),
    from the cache it names (the course's /root/autodl-tmp shows the stand-ins) or the grader's."""
    path = mod.download_model()
    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        raise TypeError(f"download_model() must return the model's folder, got {path!r}")
    return str(path)


def _records(records):
    if not isinstance(records, list):
        raise TypeError(f"build_records() must return a list, got {type(records).__name__}")
    return records[:5000]


def _text(value):
    if not isinstance(value, str):
        raise TypeError(f"answer() must return a str, got {type(value).__name__}")
    return value


ARG_FIELDS = ("per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
              "learning_rate", "logging_steps", "gradient_checkpointing", "max_steps", "output_dir")


def _args_summary(args):
    if not isinstance(args, transformers.TrainingArguments):
        raise TypeError(f"expected TrainingArguments, got {type(args).__name__}")
    return {name: getattr(args, name, None) for name in ARG_FIELDS}


def _with_overrides(args, overrides):
    """The grading profile's lr/epochs for the stand-in, logging every step, no checkpoints.
    ``fold_accumulation``: the student's batch x accumulation as one batch per step: the same optimizer
    steps on the same records (the loss is averaged over the tokens of all of them either way), in a
    quarter of the passes for the tutorial's 4 x 4: a pass of the tiny stand-in is mostly overhead
    (measured on the reference's train(), one thread: 21.8 s -> 13.5 s, the same 130 steps and losses
    but for dropout's draws)."""
    overrides = dict(overrides)
    if overrides.pop("fold_accumulation", False):
        batch, steps = args.per_device_train_batch_size, args.gradient_accumulation_steps
        if isinstance(batch, int) and isinstance(steps, int) and batch >= 1 and steps > 1:
            args.per_device_train_batch_size, args.gradient_accumulation_steps = batch * steps, 1
    for name, value in overrides.items():
        setattr(args, name, value)
    args.logging_steps = 1
    args.save_strategy = transformers.trainer_utils.SaveStrategy.NO
    args.report_to = []
    args.disable_tqdm = True
    args.dataloader_num_workers = 0
    return args


def _summary(trainer):
    if not isinstance(trainer, transformers.Trainer):
        raise TypeError(f"train() must return the Trainer, got {type(trainer).__name__}")
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"losses": losses, "global_step": trainer.state.global_step}


if __name__ == "__main__":
    probe_main({"inspect": inspect, "train": train})
