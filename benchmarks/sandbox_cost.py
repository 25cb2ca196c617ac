"""What the sandbox itself costs, and why its memory limit is a cgroup and not RLIMIT_AS.

    .venv/bin/python benchmarks/sandbox_cost.py [--repeat N]

1. Start-up: the same trivial probe (run_file_probe.py on an empty file) as a plain subprocess and
   through the sandbox (copy, bwrap namespaces and mounts, cgroups, setpriv), best and mean of N.
   A grading starts one sandbox per probe run, so the cost per check is that overhead times the
   probe runs, divided by the checks they serve (qwen2_lora: 2 runs for 13 checks; qwen2_chat: 1 for 6).
2. Address space against memory: a torch import plus one training step on the grader's stand-in,
   reporting VmPeak (what RLIMIT_AS counts) and VmHWM (what is really resident), then the same
   under RLIMIT_AS set to the grader's memory limit, to show what that limit would break.

Figures come from this one run on this machine; compare ratios, not seconds.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fixtures import fixtures_dir  # noqa: E402
from grader.profiles import get_profile  # noqa: E402
from grader.isolation import detect_mode  # noqa: E402
from grader.sandbox import PROBES_DIR, Limits, Sandbox  # noqa: E402

PROBES_PER_ASSIGNMENT = {"qwen2_lora": (2, 13), "qwen2_chat": (1, 6)}

TORCH_STEP = """
import sys, torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
ids = torch.randint(0, 1000, (2, 64))
model(input_ids=ids, labels=ids).loss.backward()
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmPeak"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024)
"""


def time_runs(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def startup(repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)
        sub = tmp / "sub"
        sub.mkdir()
        (sub / "empty.py").write_text("")
        plain_cmd = [sys.executable, "-s", str(PROBES_DIR / "run_file_probe.py"), "empty.py"]

        def plain():
            subprocess.run(plain_cmd, cwd=sub, env={"GRADER_SUBMISSION": str(sub), "GRADER_OUT": str(tmp)},
                           check=True, capture_output=True)

        sandbox = Sandbox(ro_paths=[fixtures_dir()], env={}, mode=detect_mode())
        runs = iter(range(10 ** 6))

        def sandboxed():
            res = sandbox.run_probe("run_file_probe.py", ["empty.py"], sub, tmp / f"w{next(runs)}", Limits(wall_s=60))
            assert res.returncode == 0, res.output

        plain()  # warm the page cache for both
        p, s = time_runs(plain, repeat), time_runs(sandboxed, repeat)
    overhead = statistics.mean(s) - statistics.mean(p)
    print(f"start-up ({detect_mode()}, {repeat} runs each):")
    print(f"  plain subprocess  best {min(p) * 1000:7.1f} ms   mean {statistics.mean(p) * 1000:7.1f} ms")
    print(f"  sandbox           best {min(s) * 1000:7.1f} ms   mean {statistics.mean(s) * 1000:7.1f} ms"
          f"   ratio {statistics.mean(s) / statistics.mean(p):.2f}x")
    for assignment, (probes, checks) in PROBES_PER_ASSIGNMENT.items():
        print(f"  {assignment}: {probes} sandbox start(s) for {checks} checks = "
              f"{overhead * probes / checks * 1000:.1f} ms of sandbox overhead per check")


def address_space() -> None:
    model = get_profile("cpu").model("qwen/Qwen2-7B-Instruct")
    limit = Limits().memory_bytes

    def run(rlimit_as: int | None):
        def pre():
            if rlimit_as:
                resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))
        return subprocess.run([sys.executable, "-c", TORCH_STEP, str(model)], capture_output=True,
                              text=True, preexec_fn=pre)

    free = run(None)
    peak, resident = map(int, free.stdout.split())
    gib = 1024 ** 3
    print("address space vs memory (torch import + one training step on the stand-in):")
    print(f"  VmPeak {peak / gib:.2f} GiB (RLIMIT_AS counts this)   VmHWM {resident / gib:.2f} GiB (really used)"
          f"   ratio {peak / resident:.1f}x")
    for cap in (limit, 2 * resident):
        res = run(cap)
        outcome = "works" if res.returncode == 0 else f"FAILS ({(res.stderr.strip().splitlines() or ['?'])[-1][:90]})"
        print(f"  under RLIMIT_AS {cap / gib:.2f} GiB: {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    startup(args.repeat)
    address_space()


if __name__ == "__main__":
    main()
