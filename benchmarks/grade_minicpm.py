"""minicpm_deepspeed: `grader run` against the floor, warm and cold.

    .venv/bin/python benchmarks/grade_minicpm.py [--repeat N] [--skip-cold]

The floor is the reference's own `bash train.sh` run directly (LoRA, then full), with the grading
profile's arguments and the one CPU adaptation the grader's hook makes (float32, no device_map),
and nothing else: no sandbox, no probe, no judge, no inspection run.
- warm: DeepSpeed's ops already built (what `grader fixtures` leaves at set-up);
- cold: an empty TORCH_EXTENSIONS_DIR, so the first launch JIT-builds cpu_adam and the comm op,
  as a grader without the set-up step would inside every graded run;
- set-up: building the ops once into a fresh folder (the `deepspeed-ops` fixture).

Prints one line per measurement and the ratios, all measured in this one run (best of N).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import fixtures  # noqa: E402
from fixtures.recipes.deepspeed_ops import build_deepspeed_ops  # noqa: E402
from grader.checks.minicpm_deepspeed.assignment import CPU_OVERRIDES  # noqa: E402
from grader.checks.minicpm_deepspeed.fresh import DATASET  # noqa: E402
from grader.profiles import get_profile  # noqa: E402

# the DeepSpeed hook (sitecustomize.py, in the assignment's probe folder) and the course hook it imports
HOOK = f"{REPO / 'grader' / 'checks' / 'minicpm_deepspeed' / 'probe'}:{REPO / 'grader' / 'probes' / 'hooks'}"


def run(argv, env=None, cwd=None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, argv))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def floor(ops_dir: Path) -> float:
    """Both modes of the reference's train.sh, run directly; returns the wall time of the two."""
    profile = get_profile("cpu")
    total = 0.0
    for mode in ("lora", "full"):
        with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
            work = Path(tmp) / "minicpm_deepspeed"
            shutil.copytree(REPO / "reference" / "minicpm_deepspeed", work)
            shutil.copy(DATASET, work / "huanhuan.json")
            overrides = dict(CPU_OVERRIDES[mode], output_dir=str(Path(tmp) / "out"))
            env = {**os.environ, "DS_ACCELERATOR": "cpu", "TORCH_EXTENSIONS_DIR": str(ops_dir),
                   "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                   "PYTHONPATH": str(HOOK),   # only for float32 / no device_map on the CPU
                   "GRADER_DS_OUT": str(Path(tmp)), "GRADER_DS_PROFILE": json.dumps(
                       {"device": "cpu", "training_args": overrides})}
            args = ["--model_path", str(profile.model("OpenBMB/MiniCPM-2B-sft-fp32")), "--output_dir", str(Path(tmp) / "out")]
            total += run(["bash", "train.sh", *args, *(["--use_lora", "True"] if mode == "lora" else [])],
                         env=env, cwd=work)
    return total


def grader_run() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        return run([sys.executable, "-m", "grader.cli", "run", str(REPO / "reference"), "--out", str(Path(tmp) / "o"),
                    "--assignment", "minicpm_deepspeed"], cwd=REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    warm_floor = min(floor(fixtures.path("deepspeed-ops")) for _ in range(args.repeat))
    print(f"floor, warm (train.sh LoRA + full, run directly): {warm_floor:6.1f} s")
    graded = min(grader_run() for _ in range(args.repeat))
    print(f"grader run, warm (sandbox, hook, inspect probe, judge): {graded:6.1f} s  = {graded / warm_floor:.2f}x the warm floor")
    if args.skip_cold:
        return
    with tempfile.TemporaryDirectory(prefix="cold-ops-") as tmp:
        cold_floor = floor(Path(tmp))
    print(f"floor, cold (empty TORCH_EXTENSIONS_DIR: JIT builds in the first launch): {cold_floor:6.1f} s  "
          f"= {cold_floor / warm_floor:.2f}x warm; a grader without the set-up step would pay the build in "
          f"every launch")
    with tempfile.TemporaryDirectory(prefix="setup-ops-") as tmp:
        started = time.perf_counter()
        build_deepspeed_ops(Path(tmp))
        setup = time.perf_counter() - started
    print(f"set-up, once (`grader fixtures` builds the ops): {setup:6.1f} s")


if __name__ == "__main__":
    main()
