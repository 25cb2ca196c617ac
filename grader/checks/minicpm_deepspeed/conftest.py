"""Fixtures of the minicpm_deepspeed checks: three sandboxed probe runs (inspect, LoRA launch,
full launch) shared by every check of a session, and the judge's own MiniCPM stand-in."""
from __future__ import annotations

import os

import pytest

import fixtures
from grader.judge import fresh_records, ProbeRun, start_probe_runs  # noqa: F401  (fresh_records: a fixture)
from grader.checks.minicpm_deepspeed import fresh
from grader.checks.minicpm_deepspeed.host import cpu_info

MINICPM_ID = "OpenBMB/MiniCPM-2B-sft-fp32"
MARGIN_S = 30   # the probe's own time after train.sh is stopped: it still reports what happened


@pytest.fixture(scope="session")
def training_records(overrides) -> list[dict]:
    """What train.sh trains on under this profile (the judge's own loss is taken on the same)."""
    return fresh.dataset(overrides.get("records"))


@pytest.fixture(scope="session")
def _probe_runs(sandbox, assignment, assignment_dir, workdir, fresh_records, profile, limits, overrides,
                training_records):
    """The three runs share the machine's cores: at once only where there are plenty (on 2 cores,
    three at once took 163 s against 55 s one after another: OpenMP and CPU Adam threads fight),
    and never without network namespaces (process mode), where two launchers would both want
    port 29500."""
    common = {"model_path": str(profile.model(MINICPM_ID)), "device": profile.device}
    jobs = {"inspect": ({**common, "fresh_records": fresh_records, "identity_record": fresh.identity_record()},
                        limits["inspect"])}
    ops = fixtures.path("deepspeed-ops")
    for mode in ("lora", "full"):
        jobs[mode] = ({**common, "dataset": training_records, "overrides": overrides["modes"][mode],
                       "scheduler": overrides["scheduler"],
                       "torch_extensions": str(ops), "cpu_info": cpu_info(ops.parent),
                       "timeout_s": limits["deepspeed"]},
                      limits["deepspeed"] + MARGIN_S)
    workers = max(1, min(3, (os.cpu_count() or 1) // 4)) if sandbox.mode != "process" else 1
    yield from start_probe_runs(sandbox, assignment, assignment_dir, workdir, jobs, workers)


@pytest.fixture(scope="session")
def inspected(_probe_runs) -> ProbeRun:
    return _probe_runs["inspect"].result()


@pytest.fixture(scope="session")
def launched(_probe_runs) -> dict[str, ProbeRun]:
    return {mode: _probe_runs[mode].result() for mode in ("lora", "full")}


@pytest.fixture(scope="session")
def minicpm(profile):
    """The judge's own MiniCPM (the profile's: the grader's stand-in, whose modeling code is the
    grader's, or the staff's real weights; never a student's): (tokenizer, load()) with load() giving
    a fresh copy each time, in the judge's dtype on the profile's device."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(profile.model(MINICPM_ID), use_fast=False, trust_remote_code=True)
    base = AutoModelForCausalLM.from_pretrained(profile.model(MINICPM_ID), trust_remote_code=True,
                                                dtype=getattr(torch, profile.judge_dtype()),
                                                device_map=None if profile.device == "cpu" else profile.device)
    base.eval()
    return tokenizer, lambda: copy.deepcopy(base)
