"""The judge library: what a check author uses, in one place. Import from here, not from its modules:

    from grader.judge import ProbeRun, check, replay, require, run_probe

Each name is loaded on first use (the judge's modules import torch and pytest only where they need
them). Layers, lowest first: grader.plugin (the check protocol; imports nothing of the judge), then
these modules, then each assignment's checks (grader/checks/<name>/); none imports one above it.
docs/authoring.md walks through them."""
from __future__ import annotations

import importlib

# public name -> the module that defines it (grader.plugin for "plugin", grader.probes.shapes for
# "shapes", the language of the probes' contracts, else grader.judge.<module>)
_PUBLIC = {
    # declaring a check and its verdict: @check(points, ...), require(cond, zh, en), fail, skip (grader.plugin)
    "check": "plugin", "CheckFailed": "plugin", "fail": "plugin", "record_measure": "plugin",
    "require": "plugin", "skip": "plugin",
    # running the assignment's probe in the sandbox and reading its declared steps (grader.judge.probe_run)
    "ContractError": "probe_run", "ProbeRun": "probe_run", "run_probe": "probe_run", "UndeclaredStep": "probe_run",
    # reading student data as bounded, shape-checked data (grader.judge.student_data; shapes: grader.probes.shapes)
    "conforms": "shapes", "NUMBER": "shapes", "Opt": "shapes", "read_json_object": "student_data",
    # replaying the student's generate calls in the judge (grader.judge.replays)
    "CALLS": "replays", "checked_call": "replays", "replay": "replays", "replay_ids": "replays",
    # the fine-tuning judge: its own loss, the taught answer, the probe runs of a training (grader.judge.finetune)
    "fresh_records": "finetune", "judge_loss": "finetune", "MATCH": "finetune",
    "require_learned": "finetune", "require_losses_fall": "finetune", "require_taught_answer": "finetune",
    "similarity": "finetune", "start_probe_runs": "finetune", "supervised": "finetune",
    # checking a process_func's encodings against the judge's own (grader.judge.process_func)
    "ENCODING": "shapes", "encodings": "process_func", "long_record_ids": "process_func",
    "prompt_len": "process_func", "require_attention_mask": "process_func",
    "require_exact_prompt": "process_func", "require_label_mask": "process_func", "show": "process_func",
    "student_max_length": "process_func",
    # peft adapters read as data (safetensors, adapter_config.json) (grader.judge.adapter_data)
    "attach_lora": "adapter_data", "LORA_TARGETS": "adapter_data", "read_lora_config": "adapter_data",
    "read_safetensors": "adapter_data", "trained_lora": "adapter_data",
    # fresh text drawn at grading time (grader.judge.fresh_text)
    "sentence": "fresh_text",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"grader.judge has no public name {name!r} (see grader.judge.__all__)")
    value = getattr(importlib.import_module(_dotted(module)), name)
    globals()[name] = value
    return value


def _dotted(module: str) -> str:
    return {"plugin": "grader.plugin", "shapes": "grader.probes.shapes"}.get(module, f"grader.judge.{module}")


def module_of(name: str) -> str:
    """The file a public name comes from, relative to grader/ ("judge/replays.py", "plugin.py")."""
    return _dotted(_PUBLIC[name]).removeprefix("grader.").replace(".", "/") + ".py"
