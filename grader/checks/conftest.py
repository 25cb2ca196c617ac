"""Fixtures shared by the checks of every assignment: the assignment's declaration, its time limits
and grading overrides under the profile, the sandbox, a work folder, the judge's stand-in Qwen2."""
from __future__ import annotations

from pathlib import Path

import pytest

import fixtures
from grader import assignments
from grader.assignments import Assignment, Grading
from grader.profiles import Profile, get_profile
from grader.sandbox import Sandbox, make_workdir, release_workdir

# where the course's tutorials keep the models (snapshot_download(..., cache_dir='/root/autodl-tmp'))
COURSE_MODEL_ROOT = "/root/autodl-tmp"


@pytest.fixture(scope="session")
def profile(request) -> Profile:
    return get_profile(request.config.getoption("--profile"))


@pytest.fixture(scope="session")
def assignment(request) -> Assignment:
    """The assignment graded: --assignment, else the checks folder pytest was given."""
    name = request.config.getoption("--assignment") or Path(str(request.config.args[0])).resolve().name
    return assignments.get(name)


@pytest.fixture(scope="session")
def limits(assignment) -> dict[str, float]:
    """Seconds per named time limit (the declaration's, or GRADER_<NAME>_TIMEOUT_S)."""
    return assignment.limits()


@pytest.fixture(scope="session")
def grading(assignment, profile) -> Grading:
    return assignment.grading_for(profile.name)


@pytest.fixture(scope="session")
def assignment_dir(request) -> Path:
    return Path(request.config.getoption("--submission")).resolve()


@pytest.fixture(scope="session")
def sandbox(profile) -> Sandbox:
    cache = profile.model_cache
    # every model of the grader's cache also where the course keeps it: /root/autodl-tmp/<model id>
    models = {f"{COURSE_MODEL_ROOT}/{model.relative_to(cache)}": model
              for model in sorted(cache.glob("*/*")) if (model / "config.json").is_file()} if cache.is_dir() else {}
    return Sandbox(ro_paths=[fixtures.fixtures_dir()], course_models=models,
                   env={"MODEL_CACHE_DIR": str(cache), "MODELSCOPE_CACHE": str(cache),
                        "GRADER_MODEL_CACHE": str(cache), "GRADER_DEVICE": profile.device})


@pytest.fixture(scope="session")
def workdir(assignment_dir):
    path = make_workdir(f"grader-{assignment_dir.name}-")
    yield path
    release_workdir(path)


@pytest.fixture(scope="session")
def standin(profile):
    """The grader's own stand-in Qwen2 (trusted fixture, never student files): (tokenizer, load(dtype))."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = profile.model("qwen/Qwen2-7B-Instruct")
    cache = {}

    def load(dtype: str = "float32"):
        if dtype not in cache:
            cache[dtype] = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        return cache[dtype]
    return AutoTokenizer.from_pretrained(path), load
