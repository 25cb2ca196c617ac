"""Grading profiles: the device, dtype and model cache a grading runs with.

What an assignment changes under a profile (a stand-in's lr and epochs, its time limits) is the
assignment's own, in its declaration (grader/checks/<name>/assignment.py). Reports say which profile
graded them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fixtures

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    device: str
    dtype: str = "float32"

    @property
    def model_cache(self) -> Path:
        """A modelscope cache holding the models under their real ids (the grader's stand-ins here)."""
        return fixtures.model_cache()

    def model(self, model_id: str) -> Path:
        return self.model_cache / model_id


PROFILES = {
    "cpu": Profile(
        name="cpu",
        description="CPU, tiny random stand-in models under the real model ids, float32 / "
                    "CPU，真实模型名下的小型随机替身模型，float32",
        device="cpu",
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise SystemExit(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
