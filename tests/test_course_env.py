"""The course's machine inside the sandbox (grader/probes/hooks/, and minicpm_deepspeed's DeepSpeed hook):
GPU-written code on the cpu profile, modelscope offline, and the DeepSpeed config under the grading profile."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from fixtures import fixtures_dir
from grader.checks.minicpm_deepspeed.assignment import SCHEDULER
from grader.assignments import get
from grader.sandbox import PROBES_DIR

HOOKS = PROBES_DIR / "hooks"
DS_HOOK = get("minicpm_deepspeed").folder / "probe" / "sitecustomize.py"


def _load_ds_hook():
    """Our DeepSpeed hook, under its own name (a Python may have a sitecustomize of its own); inert
    without GRADER_DS_OUT."""
    sys.path.insert(0, str(HOOKS))   # it imports course_env beside it
    spec = importlib.util.spec_from_file_location("grader_ds_hook", DS_HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ds_hook = _load_ds_hook()

GPU_STYLE = """
import json, sys, torch
sys.path.insert(0, {hooks!r})
import course_env
course_env.install({device!r})
from modelscope import snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer
path = snapshot_download('qwen/Qwen2-7B-Instruct', cache_dir='/nonexistent-course-dir', revision='master')
tokenizer = AutoTokenizer.from_pretrained(path, use_fast=False)
model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16, device_map="auto").cuda()
inputs = tokenizer(["你好"], return_tensors="pt").to('cuda')
out = model.generate(inputs.input_ids.to(torch.device("cuda:0")), max_new_tokens=2, do_sample=False)
from transformers import TrainingArguments
TrainingArguments(output_dir="/tmp/course-env-args", bf16=True, report_to=[])
print(json.dumps({{"device": str(out.device), "dtype": str(model.dtype), "adapted": sorted(course_env.ADAPTATIONS)}}))
"""


def _run(device: str) -> subprocess.CompletedProcess:
    cache = str(fixtures_dir() / "modelscope")
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "MODELSCOPE_CACHE": cache, "GRADER_MODEL_CACHE": cache,
           "HOME": "/tmp"}
    return subprocess.run([sys.executable, "-c", GPU_STYLE.format(hooks=str(HOOKS), device=device)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_gpu_written_code_runs_on_the_cpu_profile_and_says_what_was_adapted():
    run = _run("cpu")
    assert run.returncode == 0, run.stderr[-3000:]
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    assert facts["device"] == "cpu" and facts["dtype"] == "torch.float32"
    assert facts["adapted"] == ["cuda", "device_map", "dtype", "mixed_precision", "model_cache"]


def test_a_gpu_profile_leaves_device_code_alone():
    run = _run("cuda")
    assert run.returncode != 0 and ("CUDA" in run.stderr or "cuda" in run.stderr), run.stderr[-2000:]


def test_the_profile_pins_the_deepspeed_values_that_make_the_stand_in_learn():
    profile = {"device": "cpu", "scheduler": SCHEDULER}
    student = {"optimizer": {"type": "AdamW", "params": {"lr": 1e-4, "betas": [0.9, 0.999], "eps": 1e-8}},
               "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": 0, "warmup_max_lr": 1e-4}},
               "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": True}},
               "train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 4, "fp16": {"enabled": True}}
    pinned = ds_hook.pinned_config(student, profile)
    assert pinned["scheduler"] == SCHEDULER
    assert pinned["optimizer"] == {"type": "AdamW", "params": {"lr": "auto", "betas": "auto", "eps": "auto"}}
    assert pinned["train_micro_batch_size_per_gpu"] == pinned["gradient_accumulation_steps"] == "auto"
    assert pinned["fp16"] == {"enabled": "auto"}
    # what the checks grade stays the student's: ZeRO stage and offload device
    assert pinned["zero_optimization"] == {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": False}}
    assert student["scheduler"]["type"] == "WarmupLR"   # the student's own dict is untouched
    # no scheduler at all gets the profile's too
    assert ds_hook.pinned_config({"zero_optimization": {"stage": 2}}, profile)["scheduler"]["type"] == "WarmupDecayLR"
