"""Fixtures shared by the checks of every assignment: the assignment's declaration, its time limits
and grading overrides under the profile, the sandbox, a work folder, the judge's stand-in Qwen2."""
from __future__ import annotations

from pathlib import Path

import pytest

import fixtures
from grader import assignments
from grader.assignments import Assignment, Grading
from grader.gpu import unit_gpu
from grader.judge_service import evaluator_for
from grader.profiles import Profile, get_profile
from grader.isolation import detect_mode
from grader.sandbox import Sandbox, make_workdir, release_workdir
from grader.settings import current

# where the course's tutorials keep the models (snapshot_download(..., cache_dir='/root/autodl-tmp'))
COURSE_MODEL_ROOT = "/root/autodl-tmp"
QWEN_ID = "qwen/Qwen2-7B-Instruct"


@pytest.fixture(scope="session")
def profile(request) -> Profile:
    return get_profile(request.config.getoption("--profile"))


@pytest.fixture(scope="session")
def assignment(request) -> Assignment:
    """The assignment graded: --assignment, else the checks folder pytest was given."""
    name = request.config.getoption("--assignment") or Path(str(request.config.args[0])).resolve().name
    return assignments.get(name)


@pytest.fixture(scope="session")
def limits(assignment, profile) -> dict[str, float]:
    """Seconds per named time limit (the declaration's under the profile, or GRADER_<NAME>_TIMEOUT_S)."""
    return assignment.limits(profile.name)


@pytest.fixture(scope="session")
def grading(assignment, profile) -> Grading:
    return assignment.grading_for(profile.name)


@pytest.fixture(scope="session")
def overrides(assignment, profile, grading) -> dict:
    """The grading overrides for the models this machine holds: a stand-in with random weights
    gets what makes it learn in a short run (the declaration's standin_overrides).
    GRADER_SWEEP_OVERRIDES (a JSON object, merged in depth) is for benchmarks/floor_sweep.py only: a
    profile is chosen by measuring candidates on every honest submission, never set for a class."""
    chosen = grading.overrides_for(any(profile.is_standin(m) for m in assignment.models))
    sweep = current().sweep_overrides
    return _merged(chosen, sweep) if sweep else chosen


def _merged(base: dict, extra: dict) -> dict:
    return {**base, **{k: _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in extra.items()}}


@pytest.fixture(scope="session")
def assignment_dir(request) -> Path:
    return Path(request.config.getoption("--submission")).resolve()


@pytest.fixture(scope="session")
def sandbox(profile, assignment) -> Sandbox:
    cache = profile.model_cache
    # the assignment's models also where the course keeps them: /root/autodl-tmp/<model id>
    models = {f"{COURSE_MODEL_ROOT}/{model_id}": profile.model(model_id) for model_id in assignment.models}
    # under a GPU profile: the unit's own GPU (a class run hands each unit one), and nothing else
    gpu = None if profile.device == "cpu" else unit_gpu()
    return Sandbox(ro_paths=[fixtures.fixtures_dir(), cache], mode=detect_mode(), course_models=models, gpu=gpu,
                   limits=profile.limits(), env={"MODEL_CACHE_DIR": str(cache), "MODELSCOPE_CACHE": str(cache),
                        "GRADER_MODEL_CACHE": str(cache), "GRADER_DEVICE": profile.device})


@pytest.fixture(scope="session")
def workdir(assignment_dir):
    path = make_workdir(f"grader-{assignment_dir.name}-")
    yield path
    release_workdir(path)


@pytest.fixture(scope="session")
def judge(profile):
    """The judge's own Qwen2 (the profile's model, never student files): (tokenizer, evaluator). The
    evaluator gives losses and generations with or without a student's adapter; in a class run it is
    the run's shared service, so the base model is loaded once per class (grader/judge_service.py)."""
    from transformers import AutoTokenizer
    path = profile.model(QWEN_ID)
    return AutoTokenizer.from_pretrained(path), evaluator_for(path, profile.device, profile.judge_dtype(),
                                                                 profile.judge_request_s)
