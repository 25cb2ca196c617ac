"""Fixtures of the qwen2_lora checks: two sandboxed probe runs shared by every check of a session."""
from __future__ import annotations

import secrets

import pytest

from grader.checks.probe_run import ProbeRun, run_probe
from grader.checks.qwen2_lora import fresh
from grader.checks.qwen2_lora.fresh import QUESTION
from grader.sandbox import Limits


@pytest.fixture(scope="session")
def fresh_records() -> list[dict]:
    """Drawn anew at every grading, so no submission can carry the expected answers."""
    return fresh.records(secrets.randbits(32))


@pytest.fixture(scope="session")
def inspected(sandbox, assignment_dir, workdir, fresh_records, profile) -> ProbeRun:
    return run_probe(sandbox, "qwen2_lora_probe.py", "inspect", assignment_dir, workdir / "inspect",
                     {"fresh_records": fresh_records},
                     Limits(wall_s=profile.inspect_timeout_s))


@pytest.fixture(scope="session")
def trained(sandbox, assignment_dir, workdir, profile) -> ProbeRun:
    return run_probe(sandbox, "qwen2_lora_probe.py", "train", assignment_dir, workdir / "train",
                     {"overrides": profile.lora_overrides, "question": QUESTION},
                     Limits(wall_s=profile.train_timeout_s))
