"""Fixtures shared by the checks of every assignment: the profile, the sandbox, a work folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader.profiles import Profile, fixtures_dir, get_profile
from grader.sandbox import Sandbox, make_workdir, release_workdir


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
def workdir(assignment_dir):
    path = make_workdir(f"grader-{assignment_dir.name}-")
    yield path
    release_workdir(path)


@pytest.fixture(scope="session")
def standin(profile):
    """The grader's own stand-in Qwen2 (trusted fixture, never student files): (tokenizer, load(dtype))."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = profile.modelscope_cache / "qwen" / "Qwen2-7B-Instruct"
    cache = {}

    def load(dtype: str = "float32"):
        if dtype not in cache:
            cache[dtype] = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        return cache[dtype]
    return AutoTokenizer.from_pretrained(path), load
