"""Figures of the gpu profile (issue 16), printed one per line:

    .venv/bin/python benchmarks/gpu_profile.py [--models DIR] [--adapters 20] [--only shared]

1. qwen2_lora with the 7B shape: the model's load, LoRA training tokens/s at length 384 (batch 4, the
   tutorial's LoRA), one adapter evaluation (attach, loss, a greedy answer, unload), peak GPU memory;
   then the whole grade of the reference through `grader run --profile gpu` (wall, peak GPU memory).
2. minicpm_deepspeed: the whole grade of the reference (two real `deepspeed` launches, ZeRO-2 with
   CPU optimizer offload): wall and peak GPU memory.
3. shared-base evaluation: N students' adapters evaluated against one base load, against one base
   load per student: adapters per second and the speed-up. This one runs on the CPU stand-in too
   (--only shared on a machine without a GPU), where a load is cheap and the speed-up small.

The models: --models DIR (the staff's modelscope cache), else the stand-ins with the real shapes
(`grader fixtures --profile gpu`, built here if missing; ~26 GB of disk). Without CUDA only part 3
runs, on the cpu profile's tiny stand-in.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QWEN = "qwen/Qwen2-7B-Instruct"
LENGTH, BATCH, STEPS = 384, 4, 20


def say(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


class GpuMemory:
    """Peak memory.used of the GPUs (nvidia-smi every 0.2 s): what a grading in its sandbox took."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True).stdout
            self.peak = max([self.peak, *(int(x) for x in out.split() if x.isdigit())])
            time.sleep(0.2)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def grade(assignment: str, profile: str, out: Path) -> float:
    """`grader run` of the reference: its wall time (the score must be full marks)."""
    import json
    sub = out / "sub"
    shutil.copytree(REPO / "reference" / assignment, sub / "reference" / assignment)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(sub / "reference"), "--assignment",
                           assignment, "--profile", profile, "--out", str(out / "report")],
                          capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    data = json.loads((out / "report" / "results.json").read_text()) if proc.returncode == 0 else {}
    say(f"{assignment}: score", f"{data.get('score')} (full marks expected)" if data else proc.stderr[-2000:])
    return wall


def lora_parts(model_dir: Path) -> None:
    """Load, train STEPS steps at LENGTH, evaluate one adapter: the parts of a qwen2_lora grade."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from grader.judge_service import Evaluator
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map="cuda")
    torch.cuda.synchronize()
    say("qwen2_lora: model load (s)", f"{time.perf_counter() - started:.1f}")
    model.enable_input_require_grads()
    model.gradient_checkpointing_enable()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=32, lora_dropout=0.1,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, 150000, (BATCH, LENGTH), device="cuda")
    for step in range(STEPS + 2):
        if step == 2:   # two warm-up steps
            torch.cuda.synchronize()
            started = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.cuda.synchronize()
    say(f"qwen2_lora: training tokens/s at length {LENGTH}, batch {BATCH}",
        f"{STEPS * BATCH * LENGTH / (time.perf_counter() - started):.0f}")
    say("qwen2_lora: peak GPU memory while training (GB)", f"{torch.cuda.max_memory_allocated() / 1e9:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        del model, optimizer
        torch.cuda.empty_cache()
        evaluator = Evaluator(model_dir, "cuda", "bfloat16")
        evaluator.base()
        started = time.perf_counter()
        evaluator.loss([(list(range(100, 164)), [-100] * 32 + list(range(132, 164)))], adapter=folder)
        evaluator.generate(list(range(100, 140)), {"do_sample": False, "max_new_tokens": 32}, adapter=folder)
        say("qwen2_lora: one adapter evaluation (loss + 32-token answer) (s)", f"{time.perf_counter() - started:.2f}")


def shared_base(model_dir: Path, device: str, dtype: str, count: int) -> None:
    """count adapters: one base load for all, against a load per student."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from grader.judge_service import Evaluator
    examples = [(list(range(100, 164)), [-100] * 32 + list(range(132, 164)))]
    prompt, greedy = list(range(100, 140)), {"do_sample": False, "max_new_tokens": 16}
    with tempfile.TemporaryDirectory() as root:
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype),
                                                    device_map=None if device == "cpu" else device)
        folders = []
        for i in range(count):   # every student's own adapter (random B, so each answers differently)
            torch.manual_seed(i)
            peft = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=32, init_lora_weights=False,
                                                   target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
            peft.save_pretrained(Path(root) / f"s{i}")
            base = peft.unload()
            folders.append(Path(root) / f"s{i}")
        del base
        warm = Evaluator(model_dir, device, dtype)   # first calls pay one-time costs: not the figure
        warm.loss(examples, adapter=folders[0])
        warm.generate(prompt, greedy, adapter=folders[0])
        del warm
        started = time.perf_counter()
        shared = Evaluator(model_dir, device, dtype)
        for folder in folders:
            shared.loss(examples, adapter=folder)
            shared.generate(prompt, greedy, adapter=folder)
        one_load = time.perf_counter() - started
        started = time.perf_counter()
        for folder in folders:
            alone = Evaluator(model_dir, device, dtype)
            alone.loss(examples, adapter=folder)
            alone.generate(prompt, greedy, adapter=folder)
            del alone
            if device != "cpu":
                torch.cuda.empty_cache()
        per_student = time.perf_counter() - started
    say(f"shared base ({device}, {count} adapters): adapters/s, one base load", f"{count / one_load:.2f}")
    say(f"shared base ({device}, {count} adapters): adapters/s, a base load per student", f"{count / per_student:.2f}")
    say(f"shared base ({device}, {count} adapters): speed-up", f"{per_student / one_load:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="the staff's modelscope cache (default: the gpu stand-ins)")
    parser.add_argument("--adapters", type=int, default=20)
    parser.add_argument("--only", choices=("lora", "minicpm", "shared"))
    args = parser.parse_args()
    import torch

    from grader.profiles import get_profile
    if not torch.cuda.is_available():
        say("GPU", "none visible: parts 1 and 2 not measured; part 3 on the cpu profile's stand-in")
        shared_base(get_profile("cpu").model(QWEN), "cpu", "float32", args.adapters)
        return 0
    say("GPU", torch.cuda.get_device_name(0))
    if args.models:
        os.environ["GRADER_MODELS"] = str(Path(args.models).resolve())
    else:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader.cli", "fixtures", "--profile", "gpu"], check=True, cwd=REPO)
        say("stand-ins with the real shapes: built or reused (s)", f"{time.perf_counter() - started:.0f}")
    profile = get_profile("gpu")
    say("models", f"{profile.model_cache} ({'stand-ins' if profile.is_standin(QWEN) else 'real weights'})")
    with tempfile.TemporaryDirectory() as scratch:
        if args.only in (None, "lora"):
            lora_parts(profile.model(QWEN))
            with GpuMemory() as memory:
                wall = grade("qwen2_lora", "gpu", Path(scratch) / "lora")
            say("qwen2_lora: whole grade, wall (s) / peak GPU memory (GB)", f"{wall:.0f} / {memory.peak / 1024:.1f}")
        if args.only in (None, "minicpm"):
            with GpuMemory() as memory:
                wall = grade("minicpm_deepspeed", "gpu", Path(scratch) / "minicpm")
            say("minicpm_deepspeed: whole grade, wall (s) / peak GPU memory (GB)", f"{wall:.0f} / {memory.peak / 1024:.1f}")
    if args.only in (None, "shared"):
        shared_base(profile.model(QWEN), "cuda", profile.judge_dtype(), args.adapters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
