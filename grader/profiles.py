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

    @property
    def modelscope_cache(self) -> Path:
        return fixtures_dir() / "modelscope"

    @property
    def real_tokenizer(self) -> Path:
        return fixtures_dir() / "tokenizers" / "qwen2-real"


PROFILES = {
    "cpu": Profile(
        name="cpu",
        description="CPU, tiny random stand-in models under the real model ids; training at lr 1e-2 "
                    "for 10 epochs (the stand-in learns nothing at the tutorial's 1e-4 x 3) / "
                    "CPU 小替身模型，训练检查使用 lr 1e-2、10 个 epoch",
        device="cpu",
        lora_overrides={"learning_rate": 1e-2, "num_train_epochs": 10, "use_cpu": True,
                        "max_steps": -1, "seed": 42},
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile; GRADER_{INSPECT,TRAIN,CHAT,CHAT_TURN}_TIMEOUT_S override its time limits."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise SystemExit(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
    timeouts = {field: float(os.environ[var]) for field, var in
                (("inspect_timeout_s", "GRADER_INSPECT_TIMEOUT_S"), ("train_timeout_s", "GRADER_TRAIN_TIMEOUT_S"),
                 ("chat_timeout_s", "GRADER_CHAT_TIMEOUT_S"), ("chat_turn_timeout_s", "GRADER_CHAT_TURN_TIMEOUT_S"))
                if os.environ.get(var)}
    return replace(profile, **timeouts)
