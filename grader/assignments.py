"""Assignments are discovered, not listed: each one declares itself in
``grader/checks/<name>/assignment.py`` (``ASSIGNMENT = Assignment(...)``), beside its checks.

Everything outside an assignment's own folders derives from these declarations: the CLI's choices,
the runner's time budget and the limits text of reports, the fixture plan (`grader fixtures`), the
Gradescope bundle's set-up, `grader validate`, `grader needs`, reports' ordering and the course
policy. Importing this module (and a declaration) is cheap: no torch, so `.ci/run` and Gradescope's
setup.sh can read the apt and pip needs with the system Python before anything is installed.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from grader.probes.shapes import Mode, Opt, is_shape

CHECKS = Path(__file__).resolve().parent / "checks"


class AssignmentError(ValueError):
    """A declaration that cannot be used, or an unknown assignment; the message names the fix."""


# A time limit is the slowest the honest corpus and the reference took (benchmarks/time_limits.py
# measures it: 2 workers on 2 cores, one thread a sandbox), times LIMIT_MARGIN: a grading machine
# may give half a CPU (Gradescope) to cores 1.5x slower, and 1.7x of that is left for a student's
# correct but slower code. Never under LIMIT_FLOOR_S: the first run of a fresh machine reads torch
# from a cold disk, and a run of a few seconds is mostly that start-up; a limit within a run (a chat
# turn, a request: runs=0) never under STEP_FLOOR_S.
LIMIT_MARGIN = 5
LIMIT_FLOOR_S = 120
STEP_FLOOR_S = 60


@dataclass(frozen=True)
class TimeLimit:
    """One time limit of a probe run, on the run clock (grader/probes/run_clock.py: the time the run
    waited for a CPU other programs held does not count), derived from a measurement (see LIMIT_MARGIN);
    GRADER_<NAME>_TIMEOUT_S overrides it through the run's settings (grader/settings.py; names are
    shared: GRADER_INSPECT_TIMEOUT_S sets every assignment's "inspect")."""
    measured: float        # seconds: the slowest honest run (or step) it covers, as benchmarks/time_limits.py prints
    per_en: str = ""       # what one limit covers, for the report: "a launch"
    per_zh: str = ""
    runs: int = 1          # how often one grading may spend it, one after another (the runner's budget; 0: within a run)
    # what `measured` times: the probe runs of these modes, or, for a limit within a run, its steps
    # "mode:step" ("chat:turn{i}": every turn); the limit's own name when empty
    measures: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        floor = LIMIT_FLOOR_S if self.runs else STEP_FLOOR_S
        return float(max(floor, -(-self.measured * LIMIT_MARGIN // 10) * 10))


@dataclass(frozen=True)
class Envelope:
    """What one grading needs on a Gradescope container (one submission per container; Gradescope's
    defaults are 768 MB, 10 minutes and half a CPU), measured on the reference. `grader
    gradescope-bundle` states it with the timeout (Assignment.gradescope_minutes), the bundle's
    run_autograder holds each sandboxed run to ``sandbox_mb``, and tests/test_course_tools.py grades
    the reference through the bundle inside it (a memory cgroup, the timeout)."""
    memory_mb: int      # the container's memory: the judge and the sandboxed runs that overlap
    sandbox_mb: int     # one sandboxed run's memory limit inside it (GRADER_MEMORY_LIMIT_MB)
    cpus: float = 2     # the CPUs it was measured with


@dataclass(frozen=True)
class Assignment:
    name: str                       # the folder name, in reference/, assignments/ and submissions
    zh: str                         # a title, for people
    en: str
    order: int                      # reports and `grader run` take assignments in this order
    files: tuple[str, ...]          # what a submission holds
    fixtures: tuple[str, ...]       # fixture recipes it needs under every profile (fixtures/recipes/<name>.py)
    time_limits: dict[str, TimeLimit]
    # profile name -> the grading overrides the checks apply under it (lr and epochs for a stand-in,
    # say), and a sentence for the report; a profile not named here cannot grade this assignment
    grading: dict[str, "Grading"]
    # the files an X.ipynb may stand in for, and how the probe uses them: "module" (imported: only its
    # definitions are kept) or "script" (run whole); grader/probes/notebooks.py
    notebooks: dict[str, str] = field(default_factory=dict)
    # the models its checks and the student's code load, by modelscope id: the sandbox shows each one
    # where the course keeps it (/root/autodl-tmp/<id>), and a class run can share the judge's loads
    models: tuple[str, ...] = ()
    # the base models the judge evaluates through grader/judge_service.py (the `judge` fixture): a
    # class run loads each one once and shares it between its students
    judge_models: tuple[str, ...] = ()
    # the Gradescope settings one grading needs (cpu profile), measured: see Envelope
    gradescope: Envelope = Envelope(memory_mb=2048, sandbox_mb=1024)
    pip: tuple[str, ...] = ()       # requirements beyond the grader's own (pyproject.toml)
    apt: tuple[str, ...] = ()       # Debian packages its probe or checks need
    # the probe, run in the sandbox by the checks: a file of the assignment's probe/ folder (everything
    # there is shown to the sandbox read-only: the probe and its own hooks; nothing of the judge's)
    probe: str = "probe.py"

    @property
    def folder(self) -> Path:
        """The grader side of the assignment: grader/checks/<name>/."""
        return CHECKS / self.name

    @property
    def probe_path(self) -> Path:
        return self.folder / "probe" / self.probe

    @property
    def modes(self) -> dict[str, Mode]:
        """The probe's contract (probe/contract.py, MODES): each mode (the probe's argument), the inputs
        the judge sends it and the steps it records, with their shapes. The checks read no other step
        (grader/judge/probe_run.py; the shared started/finished/adaptations/notebooks need no declaring);
        tests/test_probe_contract.py fails on a name a probe writes or a check reads that is not declared."""
        return _contract(self.name)

    @property
    def steps(self) -> dict[str, tuple[str, ...]]:
        """Each mode's step names ("turn{i}" stands for turn0, turn1, ...)."""
        return {mode: tuple(declared.steps) for mode, declared in self.modes.items()}

    @property
    def expected_examples(self) -> Path:
        """The scores and failed checks of the example class (examples/submissions/) for this assignment."""
        return self.folder / "expected_examples.toml"

    def limits(self, profile: str = "cpu") -> dict[str, float]:
        """Seconds per limit under ``profile`` (its Grading may set its own), with the environment's overrides."""
        from grader.settings import current
        scaled = self.grading[profile].limits if profile in self.grading else {}
        overrides = current().timeouts
        return {name: float(overrides.get(name) or scaled.get(name, limit.seconds))
                for name, limit in self.time_limits.items()}

    def limits_s(self, profile: str = "cpu") -> float:
        """Every time limit spent, one after another."""
        limits = self.limits(profile)
        return sum(limits[n] * limit.runs for n, limit in self.time_limits.items())

    def expected_s(self) -> float:
        """About how long its probe runs take (the slowest honest ones, as measured): what orders a class
        run's units, longest first."""
        return sum(limit.measured * limit.runs for limit in self.time_limits.values())

    def budget_s(self, profile: str = "cpu") -> float:
        """The longest one grading of this assignment may take: every limit spent, on a machine so busy
        that each run reached its wall-clock backstop (grader/probes/run_clock.py), plus set-up."""
        from grader.probes.run_clock import BACKSTOP
        return BACKSTOP * self.limits_s(profile) + 600

    def gradescope_minutes(self) -> int:
        """The autograder timeout for the cpu profile: every limit spent one after another, and two
        minutes for the rest, so a submission that hangs still gets its report (Gradescope's
        default is 10 minutes, its most 40)."""
        worst = self.limits_s("cpu") + 120
        return min(40, max(10, -(-int(worst) // 60)))

    def gradescope_settings(self) -> str:
        e = self.gradescope
        return f"memory {e.memory_mb} MB, timeout {self.gradescope_minutes()} min, {e.cpus:g} CPUs"

    def describe_limits(self, profile: str = "cpu") -> str:
        limits = self.limits(profile)
        return ", ".join(f"{name} {limits[name]:.0f} s{' ' + limit.per_en if limit.per_en else ''}"
                         for name, limit in self.time_limits.items())

    def grading_for(self, profile: str) -> "Grading":
        try:
            return self.grading[profile]
        except KeyError:
            raise AssignmentError(f"{self.name} cannot be graded under the profile {profile!r}; its declaration "
                                  f"(grader/checks/{self.name}/assignment.py) names {', '.join(self.grading)}") from None


@dataclass(frozen=True)
class Grading:
    """What the checks change under one profile."""
    overrides: dict = field(default_factory=dict)
    note_en: str = ""
    note_zh: str = ""
    limits: dict[str, float] = field(default_factory=dict)   # seconds, where this profile needs other limits
    fixtures: tuple[str, ...] = ()   # recipes this profile needs besides the assignment's own
    # merged over ``overrides`` where the profile's model is a stand-in with random weights
    # (grader.profiles.STANDIN_MARKER): what makes it learn in a short run
    standin_overrides: dict = field(default_factory=dict)

    def overrides_for(self, standin: bool) -> dict:
        return {**self.overrides, **self.standin_overrides} if standin else dict(self.overrides)


@cache
def _contract(name: str) -> dict[str, Mode]:
    where = CHECKS / name / "probe" / "contract.py"
    if not where.is_file():
        raise AssignmentError(f"{where} is missing: declare the probe's modes there (MODES = {{mode: Mode(inputs=..., "
                              f"steps=...)}}, docs/authoring.md section 3)")
    modes = getattr(importlib.import_module(f"grader.checks.{name}.probe.contract"), "MODES", None)
    if not isinstance(modes, dict) or not modes or not all(isinstance(m, Mode) for m in modes.values()):
        raise AssignmentError(f"{where}: define MODES = {{mode: Mode(inputs=..., steps=...)}} (grader/probes/shapes.py)")
    for mode, declared in modes.items():
        for kind, shapes in (("input", declared.inputs), ("step", declared.steps)):
            bad = [key for key, shape in shapes.items() if not is_shape(shape.shape if isinstance(shape, Opt) else shape)]
            if bad:
                raise AssignmentError(f"{where}: mode {mode!r}: the {kind} shapes of {bad} are not shapes "
                                      "(grader/probes/shapes.py says what is)")
    return modes


@cache
def discover() -> dict[str, Assignment]:
    """Every declared assignment, by name, in their order."""
    found = []
    for folder in sorted(CHECKS.iterdir()):
        declaration = folder / "assignment.py"
        if not declaration.is_file():
            continue
        module = importlib.import_module(f"grader.checks.{folder.name}.assignment")
        assignment = getattr(module, "ASSIGNMENT", None)
        if not isinstance(assignment, Assignment):
            raise AssignmentError(f"{declaration}: define ASSIGNMENT = Assignment(...) (grader.assignments)")
        if assignment.name != folder.name:
            raise AssignmentError(f"{declaration}: name {assignment.name!r} must be its folder's, {folder.name!r}")
        if not assignment.probe_path.is_file():
            raise AssignmentError(f"{declaration}: its probe {assignment.probe_path} is missing; write it there "
                                  f"(docs/authoring.md, section 3) or name another file of {folder.name}/probe/")
        found.append(assignment)
    return {a.name: a for a in sorted(found, key=lambda a: (a.order, a.name))}


def names() -> tuple[str, ...]:
    return tuple(discover())


def get(name: str) -> Assignment:
    try:
        return discover()[name]
    except KeyError:
        raise AssignmentError(f"unknown assignment {name!r}; choose from {', '.join(names())} / 未知作业") from None


def limits_table(chosen: tuple[str, ...] | None = None, profile: str = "cpu") -> list[str]:
    """The time limits of the chosen assignments under ``profile``, a line each: what was measured, the
    margin, the limit (with the environment's overrides), and each grading's worst case."""
    from grader.settings import current
    overrides = current().timeouts
    lines = [f"time limits ({profile} profile): the slowest honest run x {LIMIT_MARGIN}, never under "
             f"{LIMIT_FLOOR_S} s ({STEP_FLOOR_S} s within a run); measured by benchmarks/time_limits.py",
             f"{'assignment':<18} {'limit':<10} {'measured s':>10} {'limit s':>8}  covers"]
    for name in chosen or names():
        declared = get(name)
        limits = declared.limits(profile)
        scaled = declared.grading[profile].limits if profile in declared.grading else {}
        for key, limit in declared.time_limits.items():
            source = ("GRADER_" + key.upper() + "_TIMEOUT_S" if overrides.get(key) else
                      f"the {profile} profile's own (unmeasured)" if key in scaled else "")
            times = "within a run" if not limit.runs else f"x{limit.runs} a grading" if limit.runs > 1 else ""
            measured = "-" if source else f"{limit.measured:.1f}"   # not what the limit comes from
            lines.append(f"{name:<18} {key:<10} {measured:>10} {limits[key]:>8.0f}  "
                         + ", ".join(x for x in (limit.per_en, times, source) if x))
        lines.append(f"{name:<18} {'(worst)':<10} {'':>10} {declared.limits_s(profile):>8.0f}  every limit spent, "
                     f"one after another")
    return lines


def needs(kind: str, chosen: tuple[str, ...] | None = None, profile: str | None = None) -> list[str]:
    """The pip requirements, apt packages or fixture recipes ("pip", "apt", "fixtures") of the chosen
    assignments (all by default); with ``profile``, the fixtures that profile adds too."""
    out: list[str] = []
    for name in chosen or names():
        declared = get(name)
        wanted = list(getattr(declared, kind))
        if kind == "fixtures" and profile in declared.grading:
            wanted += declared.grading[profile].fixtures
        out += [n for n in wanted if n not in out]
    return out
