"""Grading profiles and where the grader keeps its fixtures.

A profile names the models, device and the grading overrides for a run. The stand-in models are
tiny and random: at the tutorial's lr 1e-4 for 3 epochs they learn nothing, so the training check
trains with the profile's own lr and epochs, while the student's own values are checked for sense
separately (see grader/checks/qwen2_lora). Reports say which profile graded them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def grader_home() -> Path:
    return Path(os.environ.get("GRADER_HOME", REPO / ".grader-cache"))


def fixtures_dir() -> Path:
    return Path(os.environ.get("GRADER_FIXTURES", grader_home() / "fixtures"))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    device: str
    # TrainingArguments fields the judge overrides for the training check
    lora_overrides: dict = field(default_factory=dict)
    train_timeout_s: float = 600.0
    inspect_timeout_s: float = 180.0      # qwen2_lora's quick probe
    chat_timeout_s: float = 240.0         # the whole AppTest session of qwen2_chat
    chat_turn_timeout_s: float = 60.0     # one AppTest run (model load counts on the first)
    # minicpm_deepspeed: what the in-sandbox hook applies to every rank train.sh starts, per mode
    # (TrainingArguments fields set before __post_init__ fills the DeepSpeed config's "auto" fields)
    deepspeed_overrides: dict = field(default_factory=dict)
    # the DeepSpeed scheduler the hook puts in place of the student's (the stand-in learns with it)
    deepspeed_scheduler: dict = field(default_factory=dict)
    deepspeed_timeout_s: float = 300.0    # one train.sh launch (LoRA or full)

    @property
    def modelscope_cache(self) -> Path:
        return fixtures_dir() / "modelscope"

    @property
    def real_tokenizer(self) -> Path:
        return fixtures_dir() / "tokenizers" / "qwen2-real"

    @property
    def minicpm(self) -> Path:
        return self.modelscope_cache / "OpenBMB" / "MiniCPM-2B-sft-fp32"

    @property
    def torch_extensions(self) -> Path:
        """DeepSpeed's CPU ops (cpu_adam, fused Adam, the shm comm op), JIT-built once at set-up (`grader fixtures`)."""
        return fixtures_dir() / "torch_extensions"


PROFILES = {
    "cpu": Profile(
        name="cpu",
        description="CPU, tiny random stand-in models under the real model ids; training at lr 1e-2 "
                    "for 10 epochs (the stand-in learns nothing at the tutorial's 1e-4 x 3) / "
                    "CPU 小替身模型，训练检查使用 lr 1e-2、10 个 epoch",
        device="cpu",
        lora_overrides={"learning_rate": 1e-2, "num_train_epochs": 10, "use_cpu": True,
                        "max_steps": -1, "seed": 42},
        # measured on the MiniCPM stand-in (fixtures/build.py): LoRA q/k/v/o r=8 learns the 甄嬛
        # answer in ~50 epochs at 1e-2 (100 for a margin: 2e-2 diverges), full training in 20 at 5e-3;
        # batch 4, no accumulation
        deepspeed_overrides={
            mode: {"learning_rate": lr, "num_train_epochs": epochs, "max_steps": -1, "seed": 42,
                   "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                   "logging_steps": 1, "save_strategy": "no", "report_to": [], "disable_tqdm": True,
                   "fp16": False, "bf16": False, "dataloader_num_workers": 0, "warmup_steps": 0,
                   "warmup_ratio": 0.0, "max_grad_norm": 1.0, "weight_decay": 0.0}
            for mode, lr, epochs in (("lora", 1e-2, 100), ("full", 5e-3, 20))},
        # measured with these lr and epochs: a constant WarmupLR reached only 5.73 of 8.42 (LoRA), so
        # whatever scheduler the student chose (none, WarmupLR, WarmupCosineLR), grading uses this one
        deepspeed_scheduler={"type": "WarmupDecayLR",
                             "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                        "warmup_num_steps": "auto", "total_num_steps": "auto"}},
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile; GRADER_{INSPECT,TRAIN,CHAT,CHAT_TURN,DEEPSPEED}_TIMEOUT_S override its time limits."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise SystemExit(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
    timeouts = {field: float(os.environ[var]) for field, var in
                (("inspect_timeout_s", "GRADER_INSPECT_TIMEOUT_S"), ("train_timeout_s", "GRADER_TRAIN_TIMEOUT_S"),
                 ("chat_timeout_s", "GRADER_CHAT_TIMEOUT_S"), ("chat_turn_timeout_s", "GRADER_CHAT_TURN_TIMEOUT_S"),
                 ("deepspeed_timeout_s", "GRADER_DEEPSPEED_TIMEOUT_S"))
                if os.environ.get(var)}
    return replace(profile, **timeouts)
