"""The contract between each probe and its checks (grader/checks/<name>/probe/contract.py): every step
name a probe writes and every name a check reads is declared, and every declared one is written; the
probe runs the contract's modes, the judge sends each mode its declared inputs and reads each step at its
declared shape. Read from the sources, before any grading: a misspelt name is the grader's bug, caught
here, never a student's lost points."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader import assignments, judge
from grader.judge.probe_run import COMMON_STEPS, ContractError, ProbeRun, UndeclaredStep, declares, run_probe
from grader.plugin import CheckFailed
from grader.probes.shapes import Mode, Opt, is_shape
from grader.sandbox import SandboxResult

GRADER = Path(assignments.__file__).resolve().parent
SHARED_PROBE_CODE = ("_probe_common.py", "notebooks.py")   # they write COMMON_STEPS, in every mode
READS = {"value", "optional", "entry"}                       # ProbeRun's readers
STEP_IS_THIRD = {"load_student_module", "check_source"}      # _probe_common's helpers that record a step


def _name(node: ast.AST) -> str | None:
    """A literal step name; an f-string's fields become "{i}" (f"turn{i}" -> "turn{i}")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{i}" for v in node.values)
    return None


def written(source: str) -> set[str]:
    """The step names a probe's source records: rec.step/note/fail(NAME, ...),
    load_student_module(FILE, rec, NAME) and check_source(FILE, rec, NAME)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in {"step", "note", "fail"}
                and isinstance(func.value, ast.Name) and func.value.id == "rec" and node.args):
            found.add(_name(node.args[0]))
        elif isinstance(func, ast.Name) and func.id in STEP_IS_THIRD and len(node.args) >= 3:
            found.add(_name(node.args[2]))
    return found - {None}


def read(source: str) -> set[str]:
    """The step names checks' source reads from a ProbeRun: X.value/optional/entry(NAME, ...)."""
    return {_name(node.args[0]) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READS
            and node.args} - {None}


def _undeclared(names: set[str], declared: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n not in declared and not declares(declared, n.replace("{i}", "0")))


def check_sources(name: str) -> list[Path]:
    """An assignment's check modules and the judge library's modules they import (grader/judge/X.py)."""
    own = sorted((GRADER / "checks" / name).glob("*.py"))
    used = set()
    for path in own:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "grader.judge":
                used |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader.judge."):
                used.add(node.module.rsplit(".", 1)[1])
    library = {GRADER / judge.module_of(name) for name in used if name in judge.__all__}
    return own + sorted(library | {GRADER / "judge" / f"{m}.py" for m in used if (GRADER / "judge" / f"{m}.py").exists()})


@pytest.mark.parametrize("name", assignments.names())
def test_the_probe_writes_and_the_checks_read_only_declared_steps(name):
    declared = assignments.get(name)
    steps = tuple(sorted({s for mode in declared.steps.values() for s in mode}))
    probe = written(declared.probe_path.read_text(encoding="utf-8"))
    checks = set().union(*(read(p.read_text(encoding="utf-8")) for p in check_sources(name)))
    assert not _undeclared(probe, steps), f"{declared.probe} writes undeclared steps (add them to {name}'s Assignment.steps)"
    assert not _undeclared(checks, steps), f"{name}'s checks read steps no probe mode declares"
    assert not set(steps) - probe, f"{name} declares steps its probe never writes: {sorted(set(steps) - probe)}"
    assert not set(steps) & set(COMMON_STEPS), "the shared steps need no declaring"


def test_the_scan_follows_the_checks_into_the_judge_modules_they_import():
    # qwen2_lora's checks read process_func's steps through grader/judge/process_func.py
    assert GRADER / "judge" / "process_func.py" in check_sources("qwen2_lora")


def test_the_shared_probe_code_writes_only_the_shared_steps():
    for filename in SHARED_PROBE_CODE:
        names = written((GRADER / "probes" / filename).read_text(encoding="utf-8"))
        assert names <= set(COMMON_STEPS), (filename, names - set(COMMON_STEPS))


def test_a_misspelt_step_name_on_either_side_is_found():
    declared = ("import_train", "process_func", "turn{i}")
    probe = 'rec.step("procss_func", f)\nrec.fail(f"turn{i}", "x")\nload_student_module("train.py", rec, "import_tran")'
    assert _undeclared(written(probe), declared) == ["import_tran", "procss_func"]
    assert _undeclared(read('run.value("proces_func", dict)\nrun.optional(f"turn{n}")'), declared) == ["proces_func"]


def test_a_check_reading_an_undeclared_step_is_the_graders_error_not_the_students():
    result = SandboxResult(returncode=0, output="", timed_out=False, wall_s=1.0, output_truncated=False,
                           out_dir=Path("."))
    run = ProbeRun(result=result, steps={"turn0": {"ok": True, "value": 1}}, contract=Mode(steps={"turn{i}": int}),
                   mode="chat")
    assert run.value("turn0") == 1 and run.entry("turn7") is None
    with pytest.raises(UndeclaredStep, match="'turn'"):
        run.value("turn")   # not CheckFailed: the plugin reports an internal error, the points are kept


def test_a_step_is_read_at_its_declared_shape_and_a_forged_one_fails_the_check():
    result = SandboxResult(returncode=0, output="", timed_out=False, wall_s=1.0, output_truncated=False,
                           out_dir=Path("."))
    steps = {"loads": {"ok": True, "value": {"model": "1", "tokenizer": 1}}, "answer": {"ok": True, "value": "hi"}}
    run = ProbeRun(result=result, steps=steps, contract=Mode(steps={"loads": {"model": int, "tokenizer": int},
                                                                    "answer": str}), mode="chat")
    assert run.value("answer") == "hi" and run.optional("loads") is None
    with pytest.raises(CheckFailed, match="malformed"):
        run.value("loads")   # student data: a record of another shape fails the check that reads it
    with pytest.raises(CheckFailed, match="malformed"):
        run.value("answer", int)   # a check may ask for a narrower view than the contract's


@pytest.mark.parametrize("name", assignments.names())
def test_the_probe_runs_its_contracts_modes_and_every_shape_is_a_shape(name):
    declared = assignments.get(name)
    calls = [node for node in ast.walk(ast.parse(declared.probe_path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "probe_main"]
    assert len(calls) == 1 and isinstance(calls[0].args[0], ast.Dict), f"{declared.probe_path}: one probe_main({{...}})"
    assert {k.value for k in calls[0].args[0].keys} == set(declared.modes), "the probe's modes are its contract's"
    for mode in declared.modes.values():
        shapes = [*mode.inputs.values(), *mode.steps.values()]
        assert all(is_shape(s.shape if isinstance(s, Opt) else s) for s in shapes)


def test_inputs_off_the_contract_are_the_graders_error_before_anything_runs(tmp_path):
    lora = assignments.get("qwen2_lora")
    given = {"fresh_records": [{"instruction": "a", "input": "", "output": "b"}], "real_tokenizer": "/t"}
    for wrong, says in [({**given, "extra": 1}, "'extra' is not declared"), ({"real_tokenizer": "/t"}, "missing"),
                        ({**given, "real_tokenizer": 3}, "'real_tokenizer' is not of shape")]:
        with pytest.raises(ContractError, match=says):   # sandbox None: it raises before any run
            run_probe(None, lora, "inspect", tmp_path, tmp_path / "w", wrong, 10)
    with pytest.raises(ContractError, match="no probe mode 'inspekt'"):
        run_probe(None, lora, "inspekt", tmp_path, tmp_path / "w", given, 10)


def test_a_shape_written_wrong_is_found():
    assert is_shape({"a": [int], "b": Opt((str, None)), "c": object}) and is_shape((dict, None))
    assert not is_shape([int, str]) and not is_shape({"a": "int"}) and not is_shape(set) and not is_shape(())
