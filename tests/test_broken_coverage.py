"""Every check of every assignment has a broken submission that fails it on its own evidence (issue 26).

The broken submissions themselves are graded in test_grading.py (qwen2_lora), test_chat.py,
test_qwen2_fastapi.py and test_minicpm_deepspeed.py, each asserting that the checks it exists to
catch end "failed" (not skipped as another's dependents). This test proves no check is left out,
including one added later without its broken submission.
"""
from __future__ import annotations

import importlib

import pytest

from grader.assignments import names
from tests import test_chat, test_qwen2_fastapi
from tests.broken_submissions import BROKEN, LORA_MORE_BROKEN, MINICPM_BROKEN


def declared_checks(assignment: str) -> set[str]:
    """The checks the assignment's check module declares with @check."""
    module = importlib.import_module(f"grader.checks.{assignment}.test_{assignment}")
    return {name for name, fn in vars(module).items()
            if name.startswith("test_") and any(m.name == "grader_check" for m in getattr(fn, "pytestmark", ()))}


def caught(assignment: str) -> dict[str, set[str]]:
    """{broken submission: the checks it exists to catch}."""
    if assignment == "qwen2_lora":
        return {**{check: {check} for check in BROKEN},
                **{name: lost for name, (_d, _p, lost) in LORA_MORE_BROKEN.items()}}
    if assignment == "qwen2_chat":
        return {check: {check} for check in test_chat.BROKEN_APPS}
    if assignment == "qwen2_fastapi":
        return {name: catches for name, (_d, _p, _lost, catches, _says) in test_qwen2_fastapi.BROKEN.items()}
    if assignment == "minicpm_deepspeed":
        return {name: catches for name, (_d, _p, _lost, catches) in MINICPM_BROKEN.items()}
    raise AssertionError(f"{assignment}: no broken submissions declared; add them and list them here")


@pytest.mark.parametrize("assignment", sorted(names()))
def test_every_check_has_a_broken_submission(assignment):
    checks = declared_checks(assignment)
    assert len(checks) >= 6, checks
    entries = caught(assignment)
    unknown = {name: c - checks for name, c in entries.items() if c - checks}
    assert not unknown, f"broken submissions naming checks that do not exist: {unknown}"
    covered = set().union(*entries.values())
    assert checks == covered, f"{assignment}: no broken submission fails {sorted(checks - covered)}"


def test_what_a_broken_submission_catches_is_among_what_it_loses():
    for name, (_d, _p, lost, catches) in MINICPM_BROKEN.items():
        assert catches and catches <= lost, name
    for name, (_d, _p, lost, catches, _says) in test_qwen2_fastapi.BROKEN.items():
        assert catches and catches <= lost, name
