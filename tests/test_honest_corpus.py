"""The honest corpus: each folder of tests/assignments/<assignment>/honest/ is a correct submission written the way students
really write it (the tutorial pasted, notebooks, 'cuda' everywhere, another scheduler ...). Each is
graded for real through the runner and held to its exact score, the exact set of checks that do not
pass (documented deductions only) and the exact adaptations the report lists. Format: tests/assignments/honest.md.
"""
from __future__ import annotations


import pytest

from grader.assignments import names
from tests.conftest import corpus, corpus_marks, grade, honest_entry, honest_submission

KEYS = {"writes", "assignment", "base", "score", "failed", "why", "drop", "adapted", "patch"}
# adaptation key -> text of the sentence course_env.py / minicpm_deepspeed's sitecustomize.py write for it
ADAPTED = {"cuda": "'cuda' devices", "device_map": "device_map=", "dtype": "half-precision",
           "mixed_precision": "trains in float32",
           "model_cache": "the grader's cache", "ds_scheduler": "DeepSpeed scheduler", "pin_memory": "pin_memory",
           "server_host": "is served on loopback", "server_port": "the server listens on"}


def _entries():
    for name in sorted(corpus("honest")):
        marks = corpus_marks(honest_entry(name)["assignment"])
        yield pytest.param(name, id=f"slow-{name}" if marks else name, marks=marks)


def summary(checks, adaptations) -> str:
    lines = [f"{n}: {c.status} {c.score:g}/{c.max_score:g} {c.output[:600]!r}" for n, c in checks.items()]
    return "\n".join(lines + [f"adaptation: {a}" for a in adaptations])


@pytest.mark.parametrize("name", _entries())
def test_honest_entry(name, tmp_path):
    entry = honest_entry(name)
    assert set(entry) <= KEYS, f"unknown keys {set(entry) - KEYS}"
    assert entry["base"] in ("stub", "reference") and entry["assignment"] in names()
    assert entry["writes"].strip() and "\n" not in entry["writes"]
    assert entry["score"] == 100 or entry.get("failed"), "less than full marks names the checks that fail"
    assert not entry.get("failed") or entry.get("why", "").strip(), "a deduction needs its `why`"
    assert set(entry.get("adapted", [])) <= set(ADAPTED)
    sub = honest_submission(name, tmp_path / "student")

    result, checks = grade(sub, tmp_path / "out", entry["assignment"])

    adaptations = result.assignments[0].adaptations
    why = summary(checks, adaptations)
    assert result.score == entry["score"], why
    assert {n for n, c in checks.items() if c.status != "passed"} == set(entry.get("failed", [])), why
    listed = {key for key, text in ADAPTED.items() if any(text in a for a in adaptations)}
    assert listed == set(entry.get("adapted", [])) and len(adaptations) == len(listed), why
