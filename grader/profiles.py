"""Grading profiles: the device, dtype and model cache a grading runs with.

- ``cpu``: tiny random stand-ins under the real model ids (built by `grader fixtures`), float32.
- ``gpu``: CUDA, bf16 (fp16 where the GPU lacks bf16), the real models from the modelscope cache the
  staff point at (``--models DIR`` or ``$GRADER_MODELS``), else stand-ins with the real shapes built by
  `grader fixtures --profile gpu`. The student's own dtype and device_map are kept.

What an assignment changes under a profile (lr and epochs, time limits) is the assignment's own, in
its declaration (grader/checks/<name>/assignment.py). Reports say which profile graded them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fixtures

REPO = Path(__file__).resolve().parent.parent
STANDIN_MARKER = "grader_standin.json"   # written by the stand-in recipes: "these weights are random"


class ModelNotFound(RuntimeError):
    """A model id that the profile's cache does not hold; the message names the folder and the fix."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    device: str
    dtype: str = "float32"   # the judge's own loads; "auto" = bf16 where the GPU has it, else fp16
    # a sandboxed run's memory, before the machine's own bound (grader.sandbox.default_memory): on a GPU
    # node, ZeRO-2's CPU offload of a full MiniCPM-2B keeps ~33 GB of fp32 master weights and Adam state
    memory_gib: float = 8
    # the longest one judge generation may take (a replay of a student's recorded call, at most
    # 2048 new tokens: grader/judge/replays.py); past it, the student's failure, never a held judge
    judge_request_s: float = 120

    @property
    def model_cache(self) -> Path:
        """A modelscope cache holding the models under their real ids."""
        if self.device == "cpu":
            return fixtures.model_cache()
        from grader.settings import current
        given = current().models
        return Path(given).expanduser() if given else fixtures.model_cache(gpu=True)

    def model(self, model_id: str) -> Path:
        """The folder of ``model_id`` in the cache, in any layout modelscope has used."""
        found = find_model(self.model_cache, model_id)
        if found is not None:
            return found
        if self.device == "cpu":   # the tests build some fixtures later; the folder is where they go
            return self.model_cache / model_id
        raise ModelNotFound(
            f"error: {model_id} is not in the model cache {self.model_cache}. Point the gpu profile at the staff's "
            f"modelscope cache (--models DIR or GRADER_MODELS=DIR), or build stand-ins with the real shapes: "
            f"grader fixtures --profile gpu / 模型缓存中没有 {model_id}：请用 --models 指定 modelscope 缓存目录，"
            f"或运行 grader fixtures --profile gpu 生成替身模型")

    def limits(self):
        """The sandbox's limits under this profile (each probe run sets its own wall time)."""
        from grader.sandbox import Limits, default_memory
        return Limits(memory_bytes=default_memory(int(self.memory_gib * 1024 ** 3)))

    def is_standin(self, model_id: str) -> bool:
        return (self.model(model_id) / STANDIN_MARKER).is_file()

    def judge_dtype(self) -> str:
        """The judge's own dtype on this machine (the student's is never changed under a GPU profile)."""
        return resolve_dtype(self.dtype)


def resolve_dtype(name: str) -> str:
    """ "auto": bf16 where the GPU has it, else fp16; any other name as it is."""
    if name != "auto":
        return name
    import torch
    return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"


def find_model(cache: Path, model_id: str) -> Path | None:
    """modelscope's layouts: ``models/owner/name`` (dots as ___), ``models/owner--name/snapshots/*``,
    and the flat ``owner/name`` that ``snapshot_download(id, cache_dir=...)`` writes, as the course does;
    the owner matched without case (qwen/ and Qwen/ are the same repository)."""
    owner, _, name = model_id.partition("/")
    safe = name.replace(".", "___")
    candidates = []
    for base in (cache, cache / "models", cache / "hub"):
        if not base.is_dir():
            continue
        owners = [d for d in base.iterdir() if d.name.lower() == owner.lower()]
        candidates += [o / n for o in owners for n in (name, safe)]
        candidates += sorted((d for d in base.glob(f"*--{name}/snapshots/*") if d.parent.parent.name.lower()
                              == f"{owner}--{name}".lower()), reverse=True)
    return next((c for c in candidates if (c / "config.json").is_file()), None)


PROFILES = {
    "cpu": Profile(
        name="cpu",
        description="CPU, tiny random stand-in models under the real model ids, float32 / "
                    "CPU，真实模型名下的小型随机替身模型，float32",
        device="cpu",
    ),
    "gpu": Profile(
        name="gpu",
        description="GPU (CUDA), the real models from the modelscope cache (or stand-ins with their exact shapes), "
                    "bf16, the student's own dtype and device_map kept / GPU（CUDA），modelscope 缓存中的真实模型"
                    "（或形状完全相同的替身），bf16，保留学生自己的 dtype 与 device_map",
        device="cuda",
        dtype="auto",
        memory_gib=64,
        judge_request_s=300,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise SystemExit(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
