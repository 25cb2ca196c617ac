"""Read a student's LoRA adapter as *data*: a validated adapter_config.json and safetensors tensors.

Never `PeftModel.from_pretrained(student_folder)`: that would also accept a pickled
adapter_model.bin (code execution) and trust paths in the config. We open two plain files,
check their size and shape, and build the LoraConfig ourselves from the fields we allow.
"""
from __future__ import annotations

import contextlib
import struct
from pathlib import Path

from grader.judge.student_data import NUMBER, SAVE_HINT, conforms, read_json_object, regular_file
from grader.plugin import fail

MAX_CONFIG_BYTES = 64 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024
MAX_ADAPTER_BYTES = 2 * 1024 ** 3
LORA_TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def read_lora_config(folder: Path) -> dict:
    return lora_fields(_raw_config(folder))


def _raw_config(folder: Path) -> dict:
    return read_json_object(folder / "adapter_config.json", "adapter_config.json", MAX_CONFIG_BYTES, SAVE_HINT)


def lora_fields(cfg: dict) -> dict:
    """The LoraConfig fields we allow from an adapter_config.json, each validated."""
    if cfg.get("peft_type") != "LORA":
        fail("adapter_config.json 不是 LoRA 配置（peft_type 应为 LORA）。",
             "adapter_config.json is not a LoRA config (peft_type must be LORA).")
    targets = cfg.get("target_modules")
    targets = [targets] if isinstance(targets, str) else targets
    r, alpha = cfg.get("r"), cfg.get("lora_alpha")
    if not (isinstance(targets, list) and targets and set(targets) <= LORA_TARGETS):
        fail(f"adapter_config.json 的 target_modules 不合法：{str(targets)[:200]}",
             f"target_modules in adapter_config.json must be among the seven projections, got {str(targets)[:200]}")
    if not (isinstance(r, int) and 1 <= r <= 256 and isinstance(alpha, (int, float)) and 0 < alpha <= 4096):
        fail("adapter_config.json 的 r 或 lora_alpha 不合法。", "r or lora_alpha in adapter_config.json is out of range.")
    return {"r": r, "lora_alpha": alpha, "target_modules": sorted(targets),
            "use_rslora": bool(cfg.get("use_rslora", False))}


def trained_lora(folder: Path) -> dict:
    """What an adapter was really trained with, from its own files: adapter_config.json's fields
    (validated) beside what the weights themselves show, the rank (lora_A's rows) and the modules
    they sit on. None where a field is missing or malformed."""
    raw = _raw_config(folder)   # read once: the validated fields and the two more the checks compare
    cfg, tensors = lora_fields(raw), _lora_tensors(folder)
    ranks = {tuple(v.shape)[0] for k, v in tensors.items() if ".lora_A." in k and v.dim() == 2}
    dropout, task = raw.get("lora_dropout"), raw.get("task_type")
    return {"r": cfg["r"], "weights_r": ranks.pop() if len(ranks) == 1 else None, "lora_alpha": cfg["lora_alpha"],
            "weights_modules": sorted({k.split(".lora_A.")[0].rsplit(".", 1)[-1] for k in tensors if ".lora_A." in k}),
            "target_modules": cfg["target_modules"],
            "lora_dropout": dropout if conforms(dropout, NUMBER) else None,
            "task_type": task if isinstance(task, str) else None}


def read_safetensors(folder: Path, name: str = "adapter_model.safetensors") -> dict:
    import torch
    from safetensors.torch import load

    path = regular_file(folder / name, name, MAX_ADAPTER_BYTES, SAVE_HINT)
    raw = path.read_bytes()
    if len(raw) < 8:
        fail(f"{name} 不是 safetensors 文件。", f"{name} is not a safetensors file.")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(raw):
        fail(f"{name} 的文件头不合法。", f"{name} has an invalid header.")
    try:
        tensors = load(raw)
    except Exception as exc:  # safetensors raises its own error types for malformed files
        fail(f"{name} 无法读取：{exc}", f"{name} cannot be read as safetensors: {exc}")
    return {k: v.to(torch.float32) for k, v in tensors.items()}


def read_adapter(folder: Path) -> tuple[dict, dict]:
    """A student's adapter as validated data: (the LoraConfig fields we allow, the tensors)."""
    return read_lora_config(folder), _lora_tensors(folder)


def _lora_tensors(folder: Path) -> dict:
    tensors = read_safetensors(folder)
    if not any("lora_" in k for k in tensors):
        fail("adapter 里没有 LoRA 权重。", "The adapter holds no LoRA weights.")
    return tensors


def attach_lora(base_model, adapter):
    """The judge's own LoRA wrapper around ``base_model`` (changed in place) with the student's tensors
    loaded; ``adapter``: its folder, or what read_adapter gave. An adapter that does not fit leaves
    ``base_model`` as it was."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    cfg, tensors = read_adapter(adapter) if isinstance(adapter, Path) else adapter
    model = get_peft_model(base_model, LoraConfig(task_type="CAUSAL_LM", inference_mode=True, **cfg))
    try:
        result = set_peft_model_state_dict(model, tensors)
        unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
        if unexpected:
            fail(f"adapter 的权重和模型对不上：{unexpected[:3]}",
                 f"The adapter's tensors do not fit the model: {unexpected[:3]}")
    except BaseException:
        model.unload()
        raise
    model.eval()
    return model


@contextlib.contextmanager
def attached_lora(base_model, adapter):
    """``attach_lora`` for the duration only: afterwards the LoRA layers are removed again (nothing
    merged), so one base model serves every student's adapter without a copy."""
    model = attach_lora(base_model, adapter)
    try:
        yield model
    finally:
        model.unload()
