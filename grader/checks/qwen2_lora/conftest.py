"""Fixtures of the qwen2_lora checks: two sandboxed probe runs shared by every check of a session."""
from __future__ import annotations

import secrets

import pytest

import fixtures
from grader.judge import fresh_records, ProbeRun, start_probe_runs  # noqa: F401  (fresh_records: a fixture)
from grader.checks.qwen2_lora.fresh import QUESTION

# The training run trains alike on any instruction set that teaches 你是谁？ (issue 28): a set of more
# than SAMPLE_DISTINCT distinct records (or SAMPLE_ROWS rows) is sampled down to that many, every one
# that asks 你是谁？ kept, and a run on the grading profile's epochs sees each distinct record at least
# EXPOSURES times (the tutorial's two records x 100 x 10 epochs: 1000; on the stand-in a record seen
# 63 times was not yet learned, 84 and 100 times was).
SAMPLE_DISTINCT = 16
SAMPLE_ROWS = 400
EXPOSURES = 100


@pytest.fixture(scope="session")
def _probe_runs(sandbox, assignment, assignment_dir, workdir, fresh_records, limits, overrides):
    """The quick inspection (process_func on the real tokenizer) and the training run, at once."""
    yield from start_probe_runs(sandbox, assignment, assignment_dir, workdir, {
        "inspect": ({"fresh_records": fresh_records, "real_tokenizer": str(fixtures.path("qwen2-real-tokenizer"))},
                    limits["inspect"]),
        "train": ({"overrides": overrides, "question": QUESTION, "seeds": [secrets.randbelow(2 ** 31)],
                   "sample_distinct": SAMPLE_DISTINCT, "sample_rows": SAMPLE_ROWS, "exposures": EXPOSURES,
                   "sample_seed": secrets.randbelow(2 ** 31)},
                  limits["train"]),
    }, workers=2)


@pytest.fixture(scope="session")
def inspected(_probe_runs) -> ProbeRun:
    return _probe_runs["inspect"].result()


@pytest.fixture(scope="session")
def trained(_probe_runs) -> ProbeRun:
    return _probe_runs["train"].result()
