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


DS_HOOK_PROCESS = """
import json, sys
sys.path[:0] = [{probe!r}, {hooks!r}]
import sitecustomize   # what Python imports at start-up from the launch's PYTHONPATH
from cpuinfo import get_cpu_info
print(json.dumps(get_cpu_info()))
"""


def test_deepspeeds_cpu_questions_get_the_judges_reading_of_the_cpu(tmp_path):
    """DeepSpeed asks py-cpuinfo six times a launch, each a process that sleeps 1 s: the judge reads the
    CPU once (kept by machine) and the ranks' hook answers with that reading."""
    from grader.checks.minicpm_deepspeed import host

    read = host.cpu_info.__wrapped__(tmp_path)   # uncached: reads the CPU, keeps it in tmp_path
    assert read and read["flags"] and read["vendor_id_raw"]
    kept = list(tmp_path.glob("cpu-info-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["flags"] == read["flags"]
    kept[0].write_text(json.dumps({**read, "brand_raw": "kept"}))
    assert host.cpu_info.__wrapped__(tmp_path)["brand_raw"] == "kept"   # the kept reading, not a new one

    facts = tmp_path / "facts"
    facts.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GRADER_DS_OUT": str(facts),
           "GRADER_DS_PROFILE": json.dumps({"device": "cpu", "cpu_info": {**read, "brand_raw": "the judge's"}})}
    script = DS_HOOK_PROCESS.format(probe=str(DS_HOOK.parent), hooks=str(HOOKS))
    answered = json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                         timeout=120, check=True).stdout.splitlines()[-1])
    assert answered["brand_raw"] == "the judge's" and answered["flags"] == read["flags"]
    # without the judge's reading, py-cpuinfo asks the CPU itself, as it would
    env["GRADER_DS_PROFILE"] = json.dumps({"device": "cpu"})
    itself = json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                       timeout=120, check=True).stdout.splitlines()[-1])
    assert itself["brand_raw"] == read["brand_raw"] and itself["flags"] == read["flags"]
