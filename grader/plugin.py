"""pytest plugin: points, bilingual names and hints, visibility and dependencies for checks.

Usable with plain pytest (`pytest -p grader.plugin grader/checks/qwen2_lora --submission DIR`);
the grader runs it that way in a child process and reads the JSON it writes (--grader-results).

A check reads as a sentence (check50's habit). Chinese comes first, then English, everywhere:

    @check(10, zh="process_func 用 -100 遮住提示词", en="process_func masks the prompt with -100",
           hint_zh="...", hint_en="...", depends=(test_records,))
    def test_label_mask(...):
        require(cond, "……", "...", expected=[-100, -100], actual=labels[:2], hint_zh="...", hint_en="...")

- `depends` names the check functions themselves: a typo fails when the checks load, and the
  checks run in an order that puts each after what it depends on, whatever their order in the file.
  A check whose dependency did not pass is skipped with that reason, not failed again.
- A failure carries its Chinese and English text separately, the expected and actual values and a
  hint of its own, all the way to results.json (a test's extra_data) and report.html.
- Any other exception in a check is the grader's own fault, never the student's: the check is
  reported as an internal grader error (status "error"), scored 0 with its points kept in the
  maximum (so no student data can shrink a maximum), and the student is listed for a regrade.
  Student data is validated before the judge computes with it (grader/judge/student_data.py), so
  what a student hands in fails a check, never raises in one.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import pytest

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
OUTCOMES = pytest.StashKey[dict]()   # check name -> its outcome (the JSON written at the end)
ROOTS = pytest.StashKey[dict]()      # a check skipped for a dependency -> the title of the check that failed
RUNNING = pytest.StashKey[str]()     # the bilingual title of the check running now (a root failure names it)
TIMELINE = pytest.StashKey[dict]()   # when the session started and ended, and each probe run (for benchmarks)
SANDBOX_FAILURES = pytest.StashKey[list]()   # the sandbox's own failures (grader.sandbox.SandboxFailure)
ADAPTATIONS = pytest.StashKey[list]()   # what the probe runs adapted to the course's machine (grader.judge.probe_run)
SESSION: dict = {}                   # the config of the session running, for running_check() and stash()
_UNSET = object()


class CheckFailed(AssertionError):
    """A failed check, for the student: Chinese and English apart, and what was expected and found."""

    def __init__(self, zh: str, en: str, *, expected=_UNSET, actual=_UNSET, hint_zh: str = "", hint_en: str = ""):
        self.zh, self.en, self.hint_zh, self.hint_en = zh, en, hint_zh, hint_en
        self.expected = None if expected is _UNSET else _shown(expected)
        self.actual = None if actual is _UNSET else _shown(actual)
        super().__init__(self.text())

    def text(self) -> str:
        lines = [self.zh, self.en]
        if self.expected is not None:
            lines.append(f"应为 / expected: {self.expected}")
        if self.actual is not None:
            lines.append(f"实际 / actual: {self.actual}")
        return "\n".join(lines)

    def details(self) -> dict:
        return {"zh": self.zh, "en": self.en, "expected": self.expected, "actual": self.actual,
                "hint_zh": self.hint_zh, "hint_en": self.hint_en}


def _shown(value) -> str:
    return (value if isinstance(value, str) else repr(value))[:1500]


def require(condition, zh: str, en: str, **details) -> None:
    if not condition:
        raise CheckFailed(zh, en, **details)


def fail(zh: str, en: str, **details):
    raise CheckFailed(zh, en, **details)


def skip(zh: str, en: str):
    pytest.skip(f"{zh}\n{en}")


def check(points: float, zh: str, en: str, hint_zh: str = "", hint_en: str = "",
          depends: tuple = (), visibility: str = "visible"):
    assert visibility in VISIBILITIES, visibility
    names = []
    for dep in depends:
        marker = getattr(dep, "pytestmark", None)
        if not callable(dep) or not any(m.name == "grader_check" for m in marker or ()):
            raise TypeError(f"depends takes the check functions themselves, decorated with @check; got {dep!r}")
        names.append(dep.__name__)

    def mark(fn):
        return pytest.mark.grader_check(points=points, zh=zh, en=en, hint_zh=hint_zh, hint_en=hint_en,
                                        depends=tuple(names), visibility=visibility)(fn)
    return mark


def running_check() -> str:
    config = SESSION.get("config")
    return config.stash.get(RUNNING, "") if config else ""


def stash(key: pytest.StashKey, default):
    """This session's value under ``key`` (set to ``default`` the first time); outside a session, ``default``."""
    config = SESSION.get("config")
    return config.stash.setdefault(key, default) if config else default


def record_probe(mode: str, started: float, ended: float, steps: dict, peak_bytes: int | None,
                 ran_s: float | None = None) -> None:
    """A probe run's wall-clock interval, its time on the run clock (what its limit counts), its steps'
    own seconds and its sandbox's peak memory, for the breakdown benchmarks print (grader.runner.breakdown)."""
    seconds = {name: round(e["s"], 3) for name, e in steps.items() if isinstance(e.get("s"), (int, float))}
    stash(TIMELINE, {"probes": []})["probes"].append(
        {"mode": mode, "start": started, "end": ended, "steps": seconds, "peak_bytes": peak_bytes, "ran": ran_s})


def record_measure(name: str, **values) -> None:
    """A figure a check measured on its way to a verdict (the judge's losses, the rule it held them
    to), for benchmarks/learning_margin.py: how far a submission passes or misses a rule. Never graded."""
    stash(TIMELINE, {"probes": []}).setdefault("measured", {})[name] = values


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--submission", help="the student's assignment folder (it may be missing)")
    group.addoption("--profile", default="cpu", help="grading profile (cpu)")
    group.addoption("--assignment", help="the assignment graded (default: the checks folder's name)")
    group.addoption("--grader-results", help="write the check outcomes as JSON here")


def pytest_configure(config):
    config.addinivalue_line("markers", "grader_check(points, zh, en, ...): a graded check")
    config.stash[OUTCOMES], config.stash[ROOTS] = {}, {}
    config.stash[TIMELINE] = {"configured": time.time(), "probes": []}
    SESSION["config"] = config


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if SESSION.get("config") is config:
        session = SESSION.pop("session", None)
        SESSION.clear()
        if (session is not None and config.getoption("--grader-results", default=None)
                and int(session.exitstatus) in (0, 1)):
            # the grader's own child, its checks run: results are written and every fixture torn
            # down; the interpreter's exit after torch would add over a second of tearing down
            # modules. Any other ending goes the usual way, so pytest prints why (a usage error).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(session.exitstatus))


def _meta(item):
    marker = item.get_closest_marker("grader_check")
    return marker.kwargs if marker else None


def pytest_collection_modifyitems(session, config, items):
    """Each check after the checks it depends on; otherwise the order of the file."""
    by_name = {item.originalname or item.name: item for item in items}
    ordered, state = [], {}

    def visit(item, chain):
        name = item.originalname or item.name
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise pytest.UsageError(f"checks depend on each other in a cycle: {' -> '.join(chain + [name])}")
        state[name] = "visiting"
        for dep in (_meta(item) or {}).get("depends", ()):
            if dep in by_name:
                visit(by_name[dep], chain + [name])
        state[name] = "done"
        ordered.append(item)

    for item in items:
        visit(item, [])
    items[:] = ordered


def pytest_runtest_setup(item):
    meta = _meta(item)
    item.config.stash[RUNNING] = f"{meta['zh']} / {meta['en']}" if meta else item.name
    if not meta:
        return
    outcomes, roots = item.config.stash[OUTCOMES], item.config.stash[ROOTS]
    for dep in meta["depends"]:
        state = outcomes.get(dep, {}).get("status")
        if state != "passed":
            title = outcomes.get(dep, {}).get("zh_en", dep)
            # a chain of skips names the check that really failed, not the last link
            root = roots.get(dep, title)
            roots[item.originalname or item.name] = root
            because = "" if root == title else f"（根本原因在检查“{root}”）"
            because_en = "" if root == title else f" (the root failure is in the check “{root}”)"
            pytest.skip(f"跳过：它依赖的检查“{title}”没有通过{because}。\n"
                        f"Skipped: it depends on the check “{title}”, which did not pass{because_en}.")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    meta = _meta(item)
    if not meta:
        return report
    outcomes = item.config.stash[OUTCOMES]
    name = item.originalname or item.name
    entry = outcomes.setdefault(name, {
        "name": name, "zh": meta["zh"], "en": meta["en"], "zh_en": f"{meta['zh']} / {meta['en']}",
        "max_score": meta["points"], "visibility": meta["visibility"], "hint_zh": meta["hint_zh"],
        "hint_en": meta["hint_en"], "status": "passed", "output": "", "score": meta["points"],
        "duration_s": 0.0, "depends": list(meta["depends"]), "failure": None,
    })
    entry["duration_s"] += report.duration
    if entry["status"] != "passed":
        return report
    if report.skipped:
        entry.update(status="skipped", score=0, output=_skip_reason(report))
    elif report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, CheckFailed):
            entry.update(status="failed", score=0, output=exc.text(), failure=exc.details())
        elif isinstance(exc, AssertionError):   # a bare assert in a check: its message, for the student
            entry.update(status="failed", score=0, output=str(exc).split("\nassert ")[0][:2000])
        else:   # the judge's own fault (or a failed set-up): an internal error, never a lost point
            from grader.sandbox import SandboxFailure
            if isinstance(exc, SandboxFailure):   # the grading stops: grader.runner raises it for the run
                item.config.stash.setdefault(SANDBOX_FAILURES, []).append(str(exc))
            what = f"{type(exc).__name__}: {str(exc)[:1500]}" if exc is not None else str(report.longrepr)[-1500:]
            entry.update(status="error", score=0,
                         output=f"评分器内部错误：此项暂记 0 分，助教会重新评分。 / Internal grader error: this "
                                f"check scores 0 until the course staff regrade it.\n{what}")
    return report


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return longrepr[2].removeprefix("Skipped: ")
    return str(longrepr)


def pytest_sessionfinish(session):
    SESSION["session"] = session
    path = session.config.getoption("--grader-results", default=None)
    if not path:
        return
    outcomes = list(session.config.stash[OUTCOMES].values())
    tmp = Path(path).with_suffix(".tmp")
    # errors="replace": a stray surrogate from student text must never lose the whole grading
    timeline = {**session.config.stash[TIMELINE], "finished": time.time(),
                "judge_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    tmp.write_text(json.dumps({"checks": outcomes, "adaptations": session.config.stash.get(ADAPTATIONS, []),
                               "timeline": timeline, "sandbox_failures": session.config.stash.get(SANDBOX_FAILURES, [])},
                              ensure_ascii=False, indent=1),
                   encoding="utf-8", errors="replace")
    tmp.replace(path)
