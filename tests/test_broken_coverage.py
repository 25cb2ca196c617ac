"""Every check of every assignment has a broken submission that fails it on its own evidence (issue 26).

Each assignment's proof module (tests/assignments/<name>/test_<name>.py) grades its broken submissions,
each asserting that the checks it exists to catch end "failed" (not skipped as another's dependents),
and declares them: CAUGHT = {broken submission: the checks it exists to catch} and, where known
exactly, LOST = {broken submission: every check it loses}. This test proves no check is left out,
including one added later without its broken submission.
"""
from __future__ import annotations

import importlib

import pytest

from grader.assignments import names


def declared_checks(assignment: str) -> set[str]:
    """The checks the assignment's check module declares with @check."""
    module = importlib.import_module(f"grader.checks.{assignment}.test_{assignment}")
    return {name for name, fn in vars(module).items()
            if name.startswith("test_") and any(m.name == "grader_check" for m in getattr(fn, "pytestmark", ()))}


def proof(assignment: str):
    """The assignment's proof module."""
    module = f"tests.assignments.{assignment}.test_{assignment}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not module.startswith(exc.name or "-"):
            raise
    raise AssertionError(f"{assignment}: no proof module; write tests/assignments/{assignment}/test_{assignment}.py "
                         "with its broken submissions and CAUGHT (tests/assignments/README.md)")


@pytest.mark.parametrize("assignment", sorted(names()))
def test_every_check_has_a_broken_submission(assignment):
    checks = declared_checks(assignment)
    assert len(checks) >= 6, checks
    entries = proof(assignment).CAUGHT
    unknown = {name: c - checks for name, c in entries.items() if c - checks}
    assert not unknown, f"broken submissions naming checks that do not exist: {unknown}"
    covered = set().union(*entries.values())
    assert checks == covered, f"{assignment}: no broken submission fails {sorted(checks - covered)}"


@pytest.mark.parametrize("assignment", sorted(names()))
def test_what_a_broken_submission_catches_is_among_what_it_loses(assignment):
    module = proof(assignment)
    for name, lost in getattr(module, "LOST", {}).items():
        assert module.CAUGHT[name] and module.CAUGHT[name] <= lost, name
