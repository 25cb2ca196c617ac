"""Wall time of `grader run` on the reference qwen2_lora against the floor: the same student code
run directly, in one plain process, with the same grading profile and no grader around it.

    .venv/bin/python benchmarks/grade_one.py [--repeat N]

Prints one line per run and the ratio grader/floor (best of N each, measured in this one run).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.profiles import fixtures_dir, get_profile  # noqa: E402

FLOOR = """
import os, sys, time
sys.path.insert(0, os.getcwd())
from modelscope import snapshot_download
import train, infer
train.build_records(); train.build_lora_config()
model_dir = snapshot_download(train.MODEL_ID, cache_dir=os.environ["MODEL_CACHE_DIR"], local_files_only=True)
args = train.build_training_args(sys.argv[1])
for k, v in {overrides!r}.items():
    setattr(args, k, v)
args.logging_steps, args.save_strategy, args.report_to = 1, "no", []
train.train(model_dir, sys.argv[1], args)
print(infer.answer(model_dir, sys.argv[1], "你是谁？"))
"""


def timed(argv, **kw) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, argv))}\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    n = parser.parse_args().repeat
    profile = get_profile("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sub = tmp / "student"
        shutil.copytree(REPO / "reference" / "qwen2_lora", sub / "qwen2_lora")
        grader_walls, floor_walls = [], []
        for i in range(n):
            grader_walls.append(timed([sys.executable, "-m", "grader.cli", "run", str(sub), "--out",
                                       str(tmp / f"out{i}")], cwd=REPO))
            print(f"grader run      : {grader_walls[-1]:6.1f} s")
            code = FLOOR.format(overrides={k: v for k, v in profile.lora_overrides.items()})
            floor_walls.append(timed([sys.executable, "-c", code, str(tmp / f"adapter{i}")],
                                     cwd=sub / "qwen2_lora",
                                     env={"PATH": "/usr/bin:/bin", "MODEL_CACHE_DIR": str(profile.modelscope_cache),
                                          "HOME": str(tmp), "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}))
            print(f"floor (direct)  : {floor_walls[-1]:6.1f} s")
        g, f = min(grader_walls), min(floor_walls)
        print(f"qwen2_lora reference: grader {g:.1f} s, floor {f:.1f} s, ratio {g / f:.2f}x "
              f"(fixtures at {fixtures_dir()})")


if __name__ == "__main__":
    main()
