"""minicpm_deepspeed: how widely the reference's trained weights know the taught answer.

    .venv/bin/python benchmarks/answer_margin.py [--mode lora|full] [--threads 1,2] [--hog N] [--repeat R]
                                                 [--set learning_rate=2e-2 --set num_train_epochs=100]

Runs the reference's `bash train.sh` directly (as benchmarks/grade_minicpm.py's floor: the grading
profile's arguments, the hook's CPU adaptation, no sandbox) with OMP_NUM_THREADS set to each thread
count, optionally while N busy processes hog the cores, then loads the saved weights as the judge does
and prints, per run: the last logged training losses, the judge's loss on the taught answer, the
greedy answer to 你是谁？ (single-threaded, as the judge decodes), and the margin of that decoding:
the smallest gap, over the answer's tokens, between the logit of the taught token and the best other
token (negative: greedy decoding leaves the taught answer there).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
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
from grader.checks.minicpm_deepspeed import fresh  # noqa: E402
from grader.checks.minicpm_deepspeed.assignment import CPU_OVERRIDES, SCHEDULER, TRAINING_RECORDS  # noqa: E402
from grader.profiles import get_profile  # noqa: E402

# the DeepSpeed hook (sitecustomize.py, in the assignment's probe folder) and the course hook it imports
HOOK = f"{REPO / 'grader' / 'checks' / 'minicpm_deepspeed' / 'probe'}:{REPO / 'grader' / 'probes' / 'hooks'}"
MINICPM_ID = "OpenBMB/MiniCPM-2B-sft-fp32"


def hog() -> None:
    while True:
        pass


def train(mode: str, threads: int, overrides: dict, tmp: Path, seed_init: int | None,
          records: int | None = None) -> tuple[Path, dict, float]:
    """The reference's train.sh in ``mode``: (output folder, the hook's facts of rank 0, seconds).
    ``seed_init``: seed torch with it before the model is built (LoRA's A matrices are drawn then,
    before the Trainer seeds): another seed stands for a student whose code draws another init.
    ``records``: train on the dataset's first ``records`` only (the taught one is first), as the grading does."""
    profile = get_profile("cpu")
    work, out, facts = tmp / "minicpm_deepspeed", tmp / "out", tmp / "facts"
    shutil.copytree(REPO / "reference" / "minicpm_deepspeed", work)
    if seed_init is not None:
        script = work / "train.py"
        text = script.read_text(encoding="utf-8")
        script.write_text(text.replace("    model = AutoModelForCausalLM", f"    torch.manual_seed({seed_init})\n"
                                       "    model = AutoModelForCausalLM", 1), encoding="utf-8")
    (work / "huanhuan.json").write_text(json.dumps(fresh.dataset(records), ensure_ascii=False), encoding="utf-8")
    facts.mkdir()
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "TORCH_EXTENSIONS_DIR": str(fixtures.path("deepspeed-ops")),
           "OMP_NUM_THREADS": str(threads), "GOMP_SPINCOUNT": "10000",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(HOOK),
           "GRADER_DS_OUT": str(facts), "GRADER_DS_PROFILE": json.dumps(
               {"device": "cpu", "scheduler": SCHEDULER,
                "training_args": {**overrides, "output_dir": str(out)}})}
    argv = ["bash", "train.sh", "--model_path", str(profile.model(MINICPM_ID)), "--output_dir", str(out)]
    if mode == "lora":
        argv += ["--use_lora", "True"]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"train.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return out, json.loads((facts / "ds-rank0.json").read_text()), took


def judge(mode: str, out: Path) -> dict:
    """What the judge sees of the saved weights: loss and greedy margin on the taught answer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grader.judge.adapter_data import attach_lora, read_safetensors
    torch.set_num_threads(1)
    path = get_profile("cpu").model(MINICPM_ID)
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=False, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, dtype=torch.float32)
    if mode == "lora":
        model = attach_lora(model, out)
    else:
        model.load_state_dict(read_safetensors(out, "model.safetensors"), strict=False)
        model.tie_weights()
    model.eval()
    prompt, response, end = fresh.expected_parts(tokenizer, fresh.identity_record())
    ids = torch.tensor([prompt + response + [end]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1]   # the predictions of response + end
        target = ids[0, len(prompt):]
        taught = logits.gather(1, target[:, None])[:, 0]
        other = logits.scatter(1, target[:, None], float("-inf")).max(1).values
        loss = torch.nn.functional.cross_entropy(logits, target).item()
        prompt_ids = torch.tensor([prompt])
        generated = model.generate(input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids), do_sample=False,
                                   max_new_tokens=len(response) + 8, pad_token_id=tokenizer.eos_token_id)
    margins = (taught - other).tolist()
    return {"loss": loss, "margin": min(margins[:-1]), "end_margin": margins[-1], "margins": margins,
            "answer": tokenizer.decode(generated[0, len(prompt):], skip_special_tokens=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("lora", "full"), default="lora")
    parser.add_argument("--threads", default="1,2", help="comma-separated OMP_NUM_THREADS values")
    parser.add_argument("--hog", type=int, default=0, help="busy processes running meanwhile")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="ARG=VALUE",
                        help="a TrainingArguments override on top of the grading profile's (JSON value)")
    parser.add_argument("--seed-init", default="", help="comma-separated seeds: one run each, torch seeded with it "
                                                        "before the model is built (another student's init)")
    parser.add_argument("--records", type=int, default=TRAINING_RECORDS,
                        help=f"train on N records, the taught one and the shortest (default: the grading's {TRAINING_RECORDS}; 0: all)")
    parser.add_argument("--verbose", action="store_true", help="each token's margin and the loss curve's tail")
    args = parser.parse_args()
    overrides = dict(CPU_OVERRIDES[args.mode])
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = json.loads(value)
    print(f"{args.mode}: lr {overrides['learning_rate']}, {overrides['num_train_epochs']} epochs, "
          f"{args.records or len(fresh.dataset())} records, hog {args.hog}")
    seeds = [int(s) for s in args.seed_init.split(",") if s] or [None]
    hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(args.hog)]
    for p in hogs:
        p.start()
    try:
        for threads in map(int, args.threads.split(",")):
            for seed in seeds * args.repeat:
                with tempfile.TemporaryDirectory(prefix="margin-") as tmp:
                    out, facts, took = train(args.mode, threads, overrides, Path(tmp), seed, args.records)
                    seen = judge(args.mode, out)
                losses = facts.get("losses") or []
                print(f"threads {threads}, init {seed}: train {took:5.1f} s, last losses "
                      f"{' '.join(f'{v:.3f}' for v in losses[-3:])}, judge loss {seen['loss']:.3f}, "
                      f"losses' hash {hash(tuple(losses)) % 10**6:06d}, min token margin {seen['margin']:+.2f} (end token {seen['end_margin']:+.2f}), "
                      f"answer {seen['answer']!r}", flush=True)
                if args.verbose:
                    half = losses[len(losses) // 2:]
                    print(f"  token margins {' '.join(f'{m:+.1f}' for m in seen['margins'])}; "
                          f"second half of training: loss max {max(half):.3f}, min {min(half):.3f}", flush=True)
    finally:
        for p in hogs:
            p.kill()


if __name__ == "__main__":
    main()
