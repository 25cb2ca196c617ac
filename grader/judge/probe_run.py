"""Run a probe in the sandbox and read back what it claims, for the checks of every assignment."""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.assignments import Assignment
from grader.judge.student_data import conforms, read_json_object
from grader.plugin import ADAPTATIONS, CheckFailed, fail, record_probe, running_check, skip, stash
from grader.probes.shapes import Mode
from grader.sandbox import Sandbox, SandboxResult

MAX_RESULT_BYTES = 64 * 1024 * 1024
# what hooks/course_env.py may say it adapted (anything else a run claims is not shown)
ADAPTATION_KEYS = ("cuda", "device_map", "dtype", "mixed_precision", "model_cache", "ds_scheduler", "pin_memory",
                   "course_path", "master_port", "server_host", "server_port")
RUNS = pytest.StashKey[list]()   # every run of this grading session, for the report's adaptations
_RUNS_LOCK = threading.Lock()
# what the probes' shared code records in every mode (grader/probes/_probe_common.py, notebooks.py);
# the rest each assignment declares per mode (its probe/contract.py)
COMMON_STEPS = ("started", "finished", "adaptations", "notebooks")


class ContractError(RuntimeError):
    """The judge broke its probe's contract (probe/contract.py): inputs it does not declare, or of another
    shape. The grader's bug, an internal error, never a student's lost points."""


class UndeclaredStep(ContractError):
    """A check read a step that its probe's mode does not declare: a misspelt name is the grader's bug,
    an internal error, never a student's lost points (tests/test_probe_contract.py finds it before any
    grading)."""


def declares(steps, name: str) -> bool:
    """Is ``name`` one of ``steps`` (names, or a mode's {name: shape}) or the shared ones? "turn{i}"
    declares turn0, turn1, ..."""
    try:
        Mode(steps=dict.fromkeys(steps, object)).step_shape(name)
        return True
    except KeyError:
        return name in COMMON_STEPS


@dataclass
class ProbeRun:
    """The data one probe run sent back. `value(step)` returns it or fails the check with why not."""
    result: SandboxResult
    steps: dict
    missing_folder: str | None = None
    # each root failure (one student error, or the run ending early) is reported once: the check
    # that first meets it fails with it; later ones that need the same missing evidence are skipped,
    # naming that check. cause -> the check's title
    roots: dict = field(default_factory=dict)
    contract: Mode = field(default_factory=Mode)   # its mode's contract (probe/contract.py)
    mode: str = ""

    def _declared(self, step: str):
        """The declared shape of ``step``; UndeclaredStep where its mode records no such step."""
        if step in COMMON_STEPS:
            return object
        try:
            return self.contract.step_shape(step)
        except KeyError:
            raise UndeclaredStep(f"the {self.mode!r} probe run records no step {step!r} (its declared steps: "
                                 f"{', '.join(self.contract.steps)}): a check reads a name its probe does not "
                                 f"write") from None

    def entry(self, step: str) -> dict | None:
        """The step's raw record ({"ok": ..., "value"/"error": ...}), or None where it is missing."""
        self._declared(step)
        return self.steps.get(step)

    def value(self, step: str, shape=object):
        """The step's value, checked against its declared shape and ``shape`` (a narrower view a check
        may ask for; grader.judge.student_data.conforms): the probe's record is student data (the code
        could write any result.json), so one the judge could not compute with fails the check that reads it."""
        declared = self._declared(step)
        if self.missing_folder:
            fail(f"没有找到作业文件夹 {self.missing_folder}/：请按作业的目录结构提交。",
                 f"The assignment folder {self.missing_folder}/ is missing: submit it with the "
                 f"assignment's layout.")
        entry = self.steps.get(step)
        if entry is None or not entry.get("ok"):
            failed = next((e for e in self.steps.values() if not e.get("ok")), None)
            cause = str((entry or failed or {}).get("error", "ended"))
            if cause in self.roots:
                skip(f"跳过：所需的结果缺失，原因已在检查“{self.roots[cause]}”中报告。",
                     f"Skipped: the evidence it needs is missing; the root failure is reported in the check "
                     f"“{self.roots[cause]}”.")
            self.roots[cause] = running_check()
        # a limit the run hit (memory, processes, disk, time) explains most errors: say it
        problem = f"\n{self.result.problem}" if self.result.problem else ""
        if entry is None:
            if failed is not None:
                fail(f"前面的步骤出错，没能运行到这里：\n{failed['error']}{problem}",
                     "An earlier step failed, so this one never ran (see above).")
            fail(f"程序在评分器拿到结果之前就结束了。{self.result.problem or ''}\n最后的输出：\n{self._tail()}",
                 "The program ended before the grader got this result (did it call sys.exit or "
                 "os._exit, crash, or run out of time?). The end of its output is shown above.")
        if not entry.get("ok"):
            fail(f"你的代码出错了 / your code raised an error:\n{entry['error']}{problem}",
                 "Fix the error above; run the file yourself to see the full traceback.")
        value = entry.get("value")
        if not (conforms(value, declared) and conforms(value, shape)):
            fail(f"评分器收到的“{step}”记录格式不对，无法评分（你的代码是否改写了评分器的结果文件？）。",
                 f"The record of “{step}” the grader got is malformed, so it cannot be graded (did your code "
                 f"write over the grader's result file?).")
        return value

    def optional(self, step: str, shape=object):
        """The step's value where the step ran and the value has ``shape``, else None: evidence a
        check can do without (it falls back to its own), so nothing is failed or skipped for it."""
        declared, entry = self._declared(step), self.steps.get(step)
        value = entry.get("value") if entry is not None and entry.get("ok") else None
        return value if conforms(value, declared) and conforms(value, shape) else None

    def _tail(self) -> str:
        return self.result.output[-1500:] or "(没有输出 / no output)"


def run_probe(sandbox: Sandbox, assignment: Assignment, mode: str, assignment_dir: Path, work: Path,
              given: dict, wall_s: float) -> ProbeRun:
    """Write the judge's inputs, run the assignment's probe over a copy of the folder, parse its JSON
    claim. The probe also gets the declaration's `notebooks` (which files a notebook may stand in for).
    ``wall_s``: this run's time limit; the other limits are the sandbox's (the profile's)."""
    if mode not in assignment.modes:
        raise ContractError(f"{assignment.name} declares no probe mode {mode!r} (its probe/contract.py: "
                            f"{', '.join(assignment.modes)})")
    contract = assignment.modes[mode]
    problems = contract.input_problems(given)
    if problems:
        raise ContractError(f"{assignment.name}'s {mode!r} probe run was given inputs its contract does not "
                            f"declare (probe/contract.py): {'; '.join(problems)}")
    declared = {"contract": contract, "mode": mode}
    if not assignment_dir.is_dir():
        return ProbeRun(result=None, steps={}, missing_folder=assignment_dir.name, **declared)
    started = time.time()
    result = sandbox.run_probe(assignment.probe_path, [mode], assignment_dir, work,
                               limits=dataclasses.replace(sandbox.limits, wall_s=wall_s),
                               inputs={**given, "notebooks": assignment.notebooks})
    run = ProbeRun(result=result, steps=_read_steps(result.out_dir / "result.json"), **declared)
    record_probe(mode, started, time.time(), run.steps, result.peak_memory_bytes, result.ran_s)
    with _RUNS_LOCK:   # runs of one grading may end at once (start_probe_runs' threads)
        stash(RUNS, []).append(run)
        stash(ADAPTATIONS, [])[:] = adaptations()   # the report's list, as the plugin writes it at the end
    return run


def adaptations() -> list[str]:
    """What the course's-machine hook adapted in this session's runs (the probe's own process and
    every DeepSpeed rank), one sentence each, for the report. A claim, shown as text only."""
    found: dict[str, str] = {}
    for run in stash(RUNS, []):
        sources = [(run.steps.get("adaptations") or {}).get("value")]
        ranks = (run.steps.get("ranks") or {}).get("value")
        if isinstance(ranks, dict):
            sources += [facts.get("adaptations") for facts in ranks.values() if isinstance(facts, dict)]
        for source in sources:
            if isinstance(source, dict):
                found.update({k: str(v)[:300] for k, v in source.items() if k in ADAPTATION_KEYS and k not in found})
    return [found[k] for k in ADAPTATION_KEYS if k in found]


def _read_steps(path: Path) -> dict:
    # The file was written by untrusted code: read as bounded data, a dict of dicts; anything else is
    # no claim at all (the checks then say the run ended before the grader got its result)
    try:
        steps = read_json_object(path, "result.json", MAX_RESULT_BYTES, object_hook=_clean_strings).get("steps")
    except CheckFailed:
        return {}
    if not isinstance(steps, dict):
        return {}
    return {k: v for k, v in steps.items() if isinstance(v, dict)}


def _clean(value):
    """Lone surrogates ("\\ud800" is valid JSON) cannot be written as UTF-8 later: replace them."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _clean_strings(obj):
    """json object_hook: keys and string values of every object, cleaned as they are parsed."""
    return {_clean(k): _clean(v) for k, v in obj.items()} if isinstance(obj, dict) else _clean(obj)
