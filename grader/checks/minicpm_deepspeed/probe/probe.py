"""Probe for minicpm_deepspeed, run inside the sandbox: `probe.py inspect|lora|full`.

inspect:   the student's build_tokenizer() on the MiniCPM stand-in (its padding side and pad id) and
           process_func on the judge's fresh records, as data (the judge batches them itself).
lora/full: the student's own `bash train.sh`, with the grader's arguments appended (--model_path,
           --output_dir, and --use_lora True for LoRA), on the course's dataset. Every Python process
           it starts loads our hook (sitecustomize.py, beside this file), which applies the grading profile and
           records what the launcher, the DeepSpeed engine and the Trainer really did. What train.sh
           saved stays in OUT/<mode>/ for the judge to read as data (safetensors and JSON only).
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import _probe_common
from _probe_common import (OUT, SUBMISSION, Recorder, check_source, encoding_as_data,
                           load_student_module, probe_main)
from run_clock import RunClock

# first on the path of every process train.sh starts: our sitecustomize.py (this folder) and the shared
# course_env.py it imports (grader/probes/hooks/)
HOOKS = (Path(__file__).resolve().parent, Path(_probe_common.__file__).resolve().parent / "hooks")
OUTPUT_TAIL = 6000


def inspect(rec: Recorder, given: dict) -> None:
    # imported before student code, so a shadow module cannot replace them (only inspect imports
    # student code here: a launch runs it in train.sh's processes, and torch would cost it ~3 s)
    import torch  # noqa: F401
    import transformers  # noqa: F401

    mod = load_student_module("train.py", rec, "import_train")
    if mod is None:
        return
    rec.note("constants", {"MAX_LENGTH": getattr(mod, "MAX_LENGTH", None)})
    tokenizer = rec.step("tokenizer", mod.build_tokenizer, given["model_path"])
    if tokenizer is None:
        return
    rec.note("tokenizer_facts", {"padding_side": getattr(tokenizer, "padding_side", None),
                                 "pad_token_id": getattr(tokenizer, "pad_token_id", None),
                                 "eos_token_id": getattr(tokenizer, "eos_token_id", None)})
    rec.step("process_func", lambda: [encoding_as_data(mod.process_func(dict(r), tokenizer))
                                      for r in given["fresh_records"]])
    # the student's own prompt for the dataset's 你是谁？: the judge asks its trained weights in the
    # format they were taught, so a wrong prompt costs the prompt check alone
    rec.step("identity", lambda: encoding_as_data(mod.process_func(dict(given["identity_record"]), tokenizer)))


def train(rec: Recorder, given: dict, mode: str) -> None:
    if check_source("train.py", rec, "train_py") is None:
        return
    if not (SUBMISSION / "train.sh").is_file():
        rec.fail("launch", "缺少 train.sh：请用它通过 deepspeed 启动器运行 train.py。 / train.sh is missing: "
                           "it must start train.py through the deepspeed launcher.")
        return
    # the course's dataset, whatever the folder holds: every student trains on the same records
    (SUBMISSION / "huanhuan.json").write_text(json.dumps(given["dataset"], ensure_ascii=False), encoding="utf-8")
    out_dir, facts = OUT / mode, OUT / f"facts-{mode}"
    out_dir.mkdir()
    facts.mkdir()
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [*map(str, HOOKS), env.get("PYTHONPATH")])),
               GRADER_DS_OUT=str(facts),
               GRADER_DS_PROFILE=json.dumps({"device": given["device"], "scheduler": given.get("scheduler"),
                                             "cpu_info": given.get("cpu_info"),
                                             "training_args": {**given["overrides"], "output_dir": str(out_dir)}}),
               TORCH_EXTENSIONS_DIR=_writable_ops_cache(given.get("torch_extensions")))
    if given["device"] == "cpu":
        env["DS_ACCELERATOR"] = "cpu"
    args = ["--model_path", given["model_path"], "--output_dir", str(out_dir)]
    if mode == "lora":
        args += ["--use_lora", "True"]
    code, output = _run(["bash", "train.sh", *args], env, facts / "train.log", given["timeout_s"])
    rec.note("launch", {"returncode": code, "output": output})
    rec.note("launcher", _read_json(facts / "ds-launcher.json"))
    rec.note("ranks", {p.stem: _read_json(p) for p in sorted(facts.glob("ds-rank*.json"))})


def _writable_ops_cache(prebuilt: str | None) -> str:
    """A writable view of the read-only cache of prebuilt ops. torch takes a lock file in each build
    folder even when nothing needs building, and ninja may rewrite its logs: those small files are
    copied (mtimes kept), the big objects linked, so ninja finds everything up to date."""
    target = Path(tempfile.mkdtemp(prefix="torch_extensions-"))
    root = Path(prebuilt) if prebuilt else None
    if root is None or not root.is_dir():
        return str(target)
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        (target / folder.name).mkdir()
        for item in folder.iterdir():
            if item.name.startswith(".ninja") or item.name == "build.ninja":
                shutil.copy2(item, target / folder.name / item.name)
            else:
                (target / folder.name / item.name).symlink_to(item)
    return str(target)


def _run(argv: list[str], env: dict, log: Path, timeout_s: float) -> tuple[int | None, str]:
    """Run train.sh in its own process group, its output to a file (a rank that outlives it cannot
    hold a pipe open); on time-out kill the whole group, the launcher's ranks too, and say so.
    The limit is on the run clock: the time the launch waited for a CPU others held does not count."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, cwd=SUBMISSION, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
        clock, code = RunClock(proc.pid), None
        while code is None and not clock.over(timeout_s):
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=0.5)
        spent_zh, spent_en = clock.spent(timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with open(log, "rb") as handle:
        handle.seek(max(0, log.stat().st_size - OUTPUT_TAIL))
        output = handle.read().decode("utf-8", errors="replace")
    if code is None:
        output += f"\n[grader: train.sh 运行超过 {spent_zh}被终止 / still running after {spent_en}: stopped]"
    return code, output


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    # train.sh's processes map the course's machine themselves (sitecustomize.py here): only inspect here
    probe_main({"inspect": inspect, "lora": lambda rec, given: train(rec, given, "lora"),
                "full": lambda rec, given: train(rec, given, "full")}, adapt=lambda mode: mode == "inspect")
