"""Fixtures of the qwen2_chat checks: one sandboxed AppTest session shared by every check."""
from __future__ import annotations

import random
import secrets

import pytest

from grader.judge import ProbeRun, run_probe, sentence


@pytest.fixture(scope="session")
def session_plan() -> dict:
    """Questions, slider value and seeds drawn anew at every grading."""
    rng = random.Random(secrets.randbits(32))
    return {"questions": [sentence(rng, rng.randint(2, 6)).replace("\n", "，") + "？" for _ in range(2)],
            "slider": rng.randint(8, 96),
            "seeds": [rng.randrange(2 ** 31) for _ in range(4)]}


@pytest.fixture(scope="session")
def chatted(sandbox, assignment, assignment_dir, workdir, session_plan, limits) -> ProbeRun:
    return run_probe(sandbox, assignment, "chat", assignment_dir, workdir / "chat",
                     {**session_plan, "timeout": limits["chat_turn"]}, limits["chat"])
