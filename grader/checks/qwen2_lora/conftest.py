"""Fixtures of the qwen2_lora checks: two sandboxed probe runs shared by every check of a session."""
from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from grader.checks.probe_run import ProbeRun, run_probe
from grader.checks.qwen2_lora import fresh
from grader.checks.qwen2_lora.fresh import QUESTION
from grader.profiles import Profile, fixtures_dir, get_profile
from grader.sandbox import Limits, Sandbox, make_workdir


@pytest.fixture(scope="session")
def profile(request) -> Profile:
    return get_profile(request.config.getoption("--profile"))


@pytest.fixture(scope="session")
def assignment_dir(request) -> Path:
    return Path(request.config.getoption("--submission")).resolve()


@pytest.fixture(scope="session")
def sandbox(profile) -> Sandbox:
    return Sandbox(ro_paths=[fixtures_dir()],
                   env={"MODEL_CACHE_DIR": str(profile.modelscope_cache),
                        "MODELSCOPE_CACHE": str(profile.modelscope_cache),
                        "GRADER_REAL_TOKENIZER": str(profile.real_tokenizer)})


@pytest.fixture(scope="session")
def workdir():
    path = make_workdir("grader-qwen2-lora-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
