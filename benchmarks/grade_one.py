"""Wall time of `grader run` on a reference assignment against the floor: the same student code
run directly, in one plain process, with the same grading profile and no grader around it.

    .venv/bin/python benchmarks/grade_one.py [--assignment qwen2_lora|qwen2_chat] [--repeat N]

qwen2_lora's floor trains and answers as the training probe does; qwen2_chat's floor is the same
AppTest session (start, slider, two questions) run directly.

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

from fixtures import fixtures_dir  # noqa: E402
from grader.assignments import get  # noqa: E402
from grader.profiles import get_profile  # noqa: E402

FLOOR_CHAT = """
import os, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("chatBot.py", default_timeout=120)
at.run()
at.sidebar.slider[0].set_value(32).run()
for q in ["你好？", "再见？"]:
    at.chat_input[0].set_value(q).run()
assert not at.exception and len(at.chat_message) == 5, at.exception
"""

FLOOR_LORA = """
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
    parser.add_argument("--assignment", default="qwen2_lora", choices=["qwen2_lora", "qwen2_chat"])
    options = parser.parse_args()
    n, assignment = options.repeat, options.assignment
    profile = get_profile("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sub = tmp / "student"
        shutil.copytree(REPO / "reference" / assignment, sub / assignment)
        grader_walls, floor_walls = [], []
        for i in range(n):
            grader_walls.append(timed([sys.executable, "-m", "grader.cli", "run", str(sub), "--out",
                                       str(tmp / f"out{i}"), "--assignment", assignment], cwd=REPO))
            print(f"grader run      : {grader_walls[-1]:6.1f} s")
            code = (FLOOR_CHAT if assignment == "qwen2_chat"
                    else FLOOR_LORA.format(overrides=dict(get("qwen2_lora").grading_for("cpu").overrides)))
            floor_walls.append(timed([sys.executable, "-c", code, str(tmp / f"adapter{i}")],
                                     cwd=sub / assignment,
                                     env={"PATH": "/usr/bin:/bin", "MODEL_CACHE_DIR": str(profile.model_cache),
                                          "HOME": str(tmp), "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}))
            print(f"floor (direct)  : {floor_walls[-1]:6.1f} s")
        g, f = min(grader_walls), min(floor_walls)
        print(f"{assignment} reference: grader {g:.1f} s, floor {f:.1f} s, ratio {g / f:.2f}x "
              f"(fixtures at {fixtures_dir()})")


if __name__ == "__main__":
    main()
