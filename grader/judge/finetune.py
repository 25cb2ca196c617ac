"""The judge's library for the fine-tuning assignments (qwen2_lora, minicpm_deepspeed): what both do
to grade a training run, once. Each assignment's folder keeps only what is its own (its prompt format,
its probe runs' inputs, how its weights are loaded).

- `fresh_records`: records drawn anew at every grading (a fixture: import it into a conftest);
- `start_probe_runs`: independent sandboxed probe runs started together, each read when a check needs it;
- `judge_loss`, `require_learned`: the judge's own loss on the course's records, with and without the
  student's weights (the logged curve is a claim; the weights are data);
- `require_losses_fall`: the rule for a logged loss curve;
- `require_taught_answer`: the base model must not know the answer, the trained one must.
"""
from __future__ import annotations

import difflib
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.judge import fresh_text
from grader.judge.probe_run import run_probe
from grader.judge.student_data import NUMBER, conforms
from grader.plugin import record_measure, require

MATCH = 0.9           # similarity of an answer's start to the taught one (difflib ratio)
LEARNED = 0.7         # the judge's loss with the student's weights must fall below this share of the base's
FALLS = 0.5           # the logged loss: the mean of its last three values below this share of its first three


@pytest.fixture(scope="session")
def fresh_records() -> list[dict]:
    """Drawn anew at every grading, so no submission can carry the expected encodings."""
    return fresh_text.records(secrets.randbits(32))


def start_probe_runs(sandbox, assignment, assignment_dir, workdir, jobs: dict, workers: int):
    """{mode: future of its ProbeRun}: ``jobs`` maps a probe mode to (inputs, wall seconds). A grading
    then waits for the longest run only, and a submission that hangs costs one time limit, not two."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        yield {mode: pool.submit(run_probe, sandbox, assignment, mode, assignment_dir, workdir / mode, given,
                                 wall)
               for mode, (given, wall) in jobs.items()}


def similarity(text: str, target: str) -> float:
    return difflib.SequenceMatcher(None, text.strip()[:len(target)], target.strip()).ratio()


def supervised(prompt: list[int], response: list[int], end: int, limit: int | None = None):
    """(input_ids, labels) of one record: the prompt masked with -100, cut to ``limit`` tokens."""
    ids, labels = prompt + response + [end], [-100] * len(prompt) + response + [end]
    return ids[:limit], labels[:limit]


def judge_loss(model, examples) -> float:
    """Mean loss over the responses of ``examples`` ((input_ids, labels) pairs), computed by the judge."""
    import torch
    losses = []
    for ids, labels in examples:
        with torch.no_grad():
            losses.append(model(input_ids=torch.tensor([ids], device=model.device),
                                labels=torch.tensor([labels], device=model.device)).loss.item())
    return sum(losses) / len(losses)


def require_learned(before: float, after: float, zh: str, en: str) -> None:
    """The judge's own loss (``before``: the base; ``after``: with the student's weights) falls (a real
    run ends far lower; untouched weights give the same loss). ``zh``/``en`` say what was measured."""
    record_measure(en, before=before, after=after, ratio=after / before if before else None, rule=LEARNED)
    require(after < LEARNED * before, f"{zh}：训练前 {before:.3f}，训练后 {after:.3f}，没有明显下降。",
            f"{en}: {before:.3f} before training, {after:.3f} after: it did not fall enough.",
            expected=f"< {LEARNED * before:.3f}", actual=f"{after:.3f}")


def require_losses_fall(losses, where_zh: str = "", where_en: str = "") -> None:
    """The logged loss curve: enough values, and the end well below the start."""
    losses = losses or []
    require(conforms(losses, [NUMBER]),
            f"{where_zh}记录的损失值不是一列数。", f"{where_en}the logged losses are not a list of numbers.")
    require(len(losses) >= 5, f"{where_zh}只记录到 {len(losses)} 个损失值：训练真的运行了吗？",
            f"{where_en}only {len(losses)} loss values were logged: did training really run?")
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    record_measure(f"{where_en}logged loss", first=first, last=last, ratio=last / first if first else None,
                   rule=FALLS)
    require(last < FALLS * first, f"{where_zh}损失没有明显下降：开始 {first:.3f}，最后 {last:.3f}。",
            f"{where_en}the loss did not fall enough: {first:.3f} at the start, {last:.3f} at the end.",
            expected=f"< {FALLS * first:.3f}", actual=f"{last:.3f}")


def require_taught_answer(base_answer: str, answer: str, identity: str, where_zh: str = "", where_en: str = "") -> None:
    """The untrained model must not give the taught answer, the trained one must start with it."""
    require(similarity(base_answer, identity) < MATCH,
            "未训练的基座模型用同样的提示词就已经能给出这个回答：回答必须来自训练。",
            "The untrained base model already gives this answer with the same prompt: it must come from training.")
    require(similarity(answer, identity) >= MATCH,
            f"{where_zh}训练后的模型回答的开头与教给它的身份不一致。",
            f"{where_en}the trained model's answer does not start with the identity it was taught.",
            expected=identity[:160], actual=answer[:160])
