"""pytest plugin: points, bilingual names and hints, visibility and dependencies for checks.

Usable with plain pytest (`pytest -p grader.plugin grader/checks/qwen2_lora --submission DIR`);
the grader runs it that way in a child process and reads the JSON it writes (--grader-results).

A check reads as a sentence (check50's habit):

    @check(points=10, en="process_func masks the prompt with -100", zh="process_func 用 -100 遮住提示词",
           hint_en="...", hint_zh="...", depends=("test_x",))
    def test_label_mask(...):
        require(cond, zh="……", en="...")

A check whose dependency did not pass is skipped with that reason, not failed again.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class CheckFailed(AssertionError):
    """A failed check with a message meant for the student (bilingual)."""


def require(condition, zh: str, en: str) -> None:
    if not condition:
        raise CheckFailed(f"{zh}\n{en}")


def fail(zh: str, en: str):
    raise CheckFailed(f"{zh}\n{en}")


def check(points: float, en: str, zh: str, hint_en: str = "", hint_zh: str = "",
          depends: tuple[str, ...] = (), visibility: str = "visible"):
    assert visibility in VISIBILITIES, visibility

    def mark(fn):
        return pytest.mark.grader_check(points=points, en=en, zh=zh, hint_en=hint_en, hint_zh=hint_zh,
                                        depends=tuple(depends), visibility=visibility)(fn)
    return mark


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--submission", help="the student's assignment folder (it may be missing)")
    group.addoption("--profile", default="cpu", help="grading profile (cpu)")
    group.addoption("--grader-results", help="write the check outcomes as JSON here")


def pytest_configure(config):
    config.addinivalue_line("markers", "grader_check(points, en, zh, ...): a graded check")
    config._grader_outcomes = {}
    config._grader_roots = {}   # a check skipped for a dependency -> the title of the check that failed


def _meta(item):
    marker = item.get_closest_marker("grader_check")
    return marker.kwargs if marker else None


RUNNING: dict = {}   # the check running now: its bilingual title (a root failure names it)


def running_check() -> str:
    return RUNNING.get("title", "")


def skip(zh: str, en: str):
    pytest.skip(f"{zh}\n{en}")


def pytest_runtest_setup(item):
    meta = _meta(item)
    RUNNING["title"] = f"{meta['zh']} / {meta['en']}" if meta else item.name
    if not meta:
        return
    outcomes, roots = item.config._grader_outcomes, item.config._grader_roots
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
    outcomes = item.config._grader_outcomes
    name = item.originalname or item.name
    entry = outcomes.setdefault(name, {
        "name": name, "en": meta["en"], "zh": meta["zh"], "zh_en": f"{meta['zh']} / {meta['en']}",
        "max_score": meta["points"], "visibility": meta["visibility"], "hint_en": meta["hint_en"],
        "hint_zh": meta["hint_zh"], "status": "passed", "output": "", "score": meta["points"],
        "duration_s": 0.0, "depends": list(meta["depends"]),
    })
    entry["duration_s"] += report.duration
    if report.skipped and entry["status"] == "passed":
        entry.update(status="skipped", score=0, output=_skip_reason(report))
    elif report.failed and entry["status"] == "passed":
        entry.update(status="failed", score=0, output=_failure_text(call.excinfo, report))
    return report


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return longrepr[2].removeprefix("Skipped: ")
    return str(longrepr)


def _failure_text(excinfo, report) -> str:
    if excinfo is None:
        return str(report.longrepr)[-2000:]
    exc = excinfo.value
    if isinstance(exc, CheckFailed):
        return str(exc.args[0]) if exc.args else ""
    if isinstance(exc, AssertionError):
        return str(exc).split("\nassert ")[0][:2000]
    # Anything else is the judge's own fault, not the student's: say so plainly.
    return (f"评分器内部错误，请联系助教。 / Internal grader error, please tell the course staff.\n"
            f"{type(exc).__name__}: {str(exc)[:1500]}")


def pytest_sessionfinish(session):
    path = session.config.getoption("--grader-results", default=None)
    if not path:
        return
    outcomes = list(session.config._grader_outcomes.values())
    from grader.checks.probe_run import adaptations
    tmp = Path(path).with_suffix(".tmp")
    # errors="replace": a stray surrogate from student text must never lose the whole grading
    tmp.write_text(json.dumps({"checks": outcomes, "adaptations": adaptations()}, ensure_ascii=False, indent=1),
                   encoding="utf-8", errors="replace")
    tmp.replace(path)
