"""Fixtures of the qwen2_fastapi checks: one sandboxed run of the student's server per grading."""
from __future__ import annotations

import random
import secrets

import pytest

from grader.judge import ProbeRun, run_probe, sentence


def _text(rng: random.Random, low: int, high: int) -> str:
    return sentence(rng, rng.randint(low, high)).replace("\n", "，").strip() or "你好"


@pytest.fixture(scope="session")
def plan(grading) -> dict:
    """Three requests drawn anew at every grading: a question alone (no "history" key), one with a
    history of one or two earlier turns, one with an explicit empty history; a seed and (cpu) an
    answer length for each generate call."""
    rng = random.Random(secrets.randbits(32))
    while True:
        questions = [_text(rng, 2, 6) + "？" for _ in range(3)]
        history = []
        for _ in range(rng.randint(1, 2)):
            history += [{"role": "user", "content": _text(rng, 3, 6) + "？"},
                        {"role": "assistant", "content": _text(rng, 4, 10)}]
        texts = questions + [m["content"] for m in history]
        # every text its own: the history check looks for each one in the prompt
        if not any(i != j and a in b for i, a in enumerate(texts) for j, b in enumerate(texts)):
            break
    low, high = grading.overrides.get("answer_tokens", (0, 0))
    return {"requests": [{"prompt": questions[0]},
                         {"prompt": questions[1], "history": history},
                         {"prompt": questions[2], "history": []}],
            "seeds": [rng.randrange(2 ** 31) for _ in range(3)],
            "end_after": [rng.randint(low, high) for _ in range(3)] if high else [],
            # generate must allow the longest answer the judge may ask for (a cap of 0 would make
            # every replay empty: an answer that costs nothing)
            "min_new_tokens": high}


@pytest.fixture(scope="session")
def served(sandbox, assignment, assignment_dir, workdir, plan, limits) -> ProbeRun:
    given = {**plan, "serve_s": limits["serve"], "request_s": limits["request"]}
    # the probe gives up at `serve` from its own start; the margin covers its imports and last write
    return run_probe(sandbox, assignment, "serve", assignment_dir, workdir / "serve", given,
                     limits["serve"] + 30)
