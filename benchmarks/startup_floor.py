"""What a grading spends starting interpreters and importing libraries, against the rest (the student's
work: tokenizing, training steps, generation, and the launcher's own), per assignment and probe run:
the map for cutting start-up (issue 30).

    .venv/bin/python benchmarks/startup_floor.py [--repeat N]

1. Each library's import cost in a fresh interpreter on this machine (median of N, after one warm-up run
   so the disk cache is warm): python alone, then torch, transformers, peft, deepspeed (with its
   accelerator detection), streamlit's AppTest, fastapi + uvicorn.
2. The reference graded alone through the real runner, with cold interpreters (GRADER_WARM=0), then
   with warm ones where this machine has them (grader/warm.py: the bubblewrap modes): grader-result.json's
   timings give each probe run's wall time and the time of the steps it recorded.
3. A table per probe run: its interpreters (what each imports, from PROCESSES below: the probe's own
   process and the ones the student's code starts, the `deepspeed` launcher, deepspeed.launcher.launch and
   each rank), the start-up they pay cold, the work the probe timed (its steps, less the import_* ones: a
   student module's import is mostly the libraries, counted as start-up), the rest (the probe's and
   the launcher's own, and the work no step times: a DeepSpeed launch's training), and the run's wall
   time with warm interpreters.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.assignments import names  # noqa: E402

IMPORTS = {
    "python": "",
    "torch": "import torch",
    "transformers": "import torch, transformers",
    "peft": "import torch, transformers, peft",
    "deepspeed": "import torch, deepspeed; from deepspeed.accelerator import get_accelerator; get_accelerator()",
    "trainer": "import torch, transformers, peft, deepspeed, datasets; from transformers import Trainer",
    "streamlit": "import torch, transformers; from streamlit.testing.v1 import AppTest",
    "fastapi": "import torch, transformers, fastapi, uvicorn",
}
# (assignment, probe mode) -> what each interpreter of that run imports (a key of IMPORTS)
PROCESSES = {
    ("qwen2_chat", "chat"): ["streamlit"],
    ("qwen2_lora", "inspect"): ["peft"],
    ("qwen2_lora", "train"): ["trainer"],
    ("minicpm_deepspeed", "inspect"): ["peft"],
    # the probe (no torch), the `deepspeed` launcher, deepspeed.launcher.launch, the rank's train.py
    ("minicpm_deepspeed", "lora"): ["python", "deepspeed", "deepspeed", "trainer"],
    ("minicpm_deepspeed", "full"): ["python", "deepspeed", "deepspeed", "trainer"],
    ("qwen2_fastapi", "serve"): ["fastapi"],
}


def import_costs(repeat: int) -> dict[str, float]:
    costs = {}
    for name, code in IMPORTS.items():
        runs = []
        for _ in range(repeat + 1):   # the first warms the disk cache
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           env={"PATH": "/usr/bin:/bin", "DS_ACCELERATOR": "cpu", "HOME": "/tmp"})
            runs.append(time.perf_counter() - started)
        costs[name] = statistics.median(runs[1:])
    return costs


def grade_reference(tmp: Path, warm: bool) -> dict:
    student = tmp / "ref"
    if not student.exists():
        for name in names():
            shutil.copytree(REPO / "reference" / name, student / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / f"out-{warm}"
    subprocess.run([sys.executable, "-m", "grader.cli", "run", str(student), "--out", str(out)],
                   check=True, capture_output=True, cwd=REPO, env={**os.environ, "GRADER_WARM": "1" if warm else "0"})
    return json.loads((out / "grader-result.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    costs = import_costs(args.repeat)
    print("import cost in a fresh interpreter (s): " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        result = grade_reference(Path(tmp), warm=False)
        warm = grade_reference(Path(tmp), warm=True)
    warm_walls = {(a["name"], mode): probe["wall"] for a in warm["assignments"]
                  for mode, probe in a["timings"].get("probes", {}).items()}
    print(f"{'assignment':<18} {'run':<8} {'wall s':>7} {'interpreters':>12} {'start-up s':>10} {'work s':>8} "
          f"{'rest s':>7} {'warm wall s':>11}")
    totals = {"wall": 0.0, "startup": 0.0, "warm": 0.0}
    for assignment in result["assignments"]:
        for mode, probe in assignment["timings"].get("probes", {}).items():
            processes = PROCESSES.get((assignment["name"], mode), [])
            startup = sum(costs[p] for p in processes)
            steps = sum(s for name, s in probe.get("steps", {}).items() if not name.startswith("import_"))
            totals["wall"] += probe["wall"]
            totals["startup"] += startup
            totals["warm"] += warm_walls.get((assignment["name"], mode), 0.0)
            print(f"{assignment['name']:<18} {mode:<8} {probe['wall']:>7.1f} {len(processes):>12} {startup:>10.1f} "
                  f"{steps:>8.1f} {probe['wall'] - startup - steps:>7.1f} "
                  f"{warm_walls.get((assignment['name'], mode), 0.0):>11.1f}")
    print(f"all probe runs: {totals['wall']:.1f} s cold, of which start-up {totals['startup']:.1f} s "
          f"({100 * totals['startup'] / max(totals['wall'], 1e-9):.0f}%); {totals['warm']:.1f} s warm; whole grading "
          f"{result['execution_time']:.1f} s cold, {warm['execution_time']:.1f} s warm (its server's start included)")


if __name__ == "__main__":
    main()
