"""Fixtures of the qwen2_lora checks: two sandboxed probe runs shared by every check of a session."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

import fixtures
from grader.checks import fresh_text
from grader.checks.probe_run import ProbeRun, run_probe
from grader.checks.qwen2_lora.fresh import QUESTION
from grader.sandbox import Limits


@pytest.fixture(scope="session")
def fresh_records() -> list[dict]:
    """Drawn anew at every grading, so no submission can carry the expected answers."""
    return fresh_text.records(secrets.randbits(32))


@pytest.fixture(scope="session")
def _probe_runs(sandbox, assignment, assignment_dir, workdir, fresh_records, limits, grading):
    """Both probe runs start at once: they are independent sandboxes, so a grading waits for the
    longer one only (and a submission that hangs costs one time limit, not two)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe") as pool:
        yield {
            "inspect": pool.submit(run_probe, sandbox, assignment, "inspect", assignment_dir,
                                   workdir / "inspect", {"fresh_records": fresh_records,
                                                         "real_tokenizer": str(fixtures.path("qwen2-real-tokenizer"))},
                                   Limits(wall_s=limits["inspect"])),
            "train": pool.submit(run_probe, sandbox, assignment, "train", assignment_dir,
                                 workdir / "train", {"overrides": grading.overrides, "question": QUESTION,
                                                      "seeds": [secrets.randbelow(2 ** 31)]},
                                 Limits(wall_s=limits["train"])),
        }


@pytest.fixture(scope="session")
def inspected(_probe_runs) -> ProbeRun:
    return _probe_runs["inspect"].result()


@pytest.fixture(scope="session")
def trained(_probe_runs) -> ProbeRun:
    return _probe_runs["train"].result()
