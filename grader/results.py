"""The result model, and Gradescope's results.json made from it."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

GRADE_FORMATS = ("plain", "canvas", "moodle")   # grades.csv layouts (grader.report.grade_rows)


@dataclass
class CheckResult:
    assignment: str
    name: str
    en: str
    zh: str
    score: float
    max_score: float
    status: str            # passed | failed | skipped | error (the grader's own fault: regraded)
    output: str = ""
    hint_en: str = ""
    hint_zh: str = ""
    visibility: str = "visible"
    duration_s: float = 0.0
    depends: list[str] = field(default_factory=list)   # checks skipped-with-reason when these fail
    # a failure's parts (grader.plugin.CheckFailed): zh, en, expected, actual, hint_zh, hint_en
    failure: dict | None = None

    @property
    def grader_error(self) -> bool:
        """The grader's own fault: scored 0 for now, its points kept in the maximum (a student's
        maximum never shrinks), and the student listed for a regrade."""
        return self.status == "error"


@dataclass
class AssignmentResult:
    name: str
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None     # why the assignment could not be graded normally, for people
    wall_s: float = 0.0
    late_days: int = 0           # whole days (or parts of one) after the due date (course.toml)
    penalty: float = 0.0         # points taken off for lateness
    # what the grading adapted so the course's GPU code ran here (grader/probes/hooks/course_env.py)
    adaptations: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)   # where the wall time went (grader.runner.breakdown)
    # the course's manual adjustments for this student ([[adjustments]] in course.toml): {points, reason}
    adjustments: list[dict] = field(default_factory=list)

    @property
    def adjusted(self) -> float:
        return sum(a["points"] for a in self.adjustments)

    @property
    def score(self) -> float:
        return max(0.0, sum(c.score for c in self.checks) - self.penalty + self.adjusted)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def needs_regrading(self) -> bool:
        return any(c.grader_error for c in self.checks)


@dataclass
class SubmissionResult:
    student: str
    assignments: list[AssignmentResult]
    profile: str
    profile_description: str
    sandbox: str
    limits: str
    grader_version: str
    graded_at: str
    execution_time: float = 0.0
    cache_key: str = ""          # files + grader + profile + policy + settings: an equal key needs no regrading
    settings: dict = field(default_factory=dict)   # what it was graded under (grader/settings.py)

    @property
    def score(self) -> float:
        return sum(a.score for a in self.assignments)

    @property
    def max_score(self) -> float:
        return sum(a.max_score for a in self.assignments)

    @property
    def needs_regrading(self) -> bool:
        return any(a.needs_regrading for a in self.assignments)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        assignments = [AssignmentResult(**{**a, "checks": [CheckResult(**c) for c in a["checks"]]})
                       for a in data["assignments"]]
        return cls(**{**data, "assignments": assignments})

    def to_gradescope(self) -> dict:
        """Gradescope's documented results.json: tests[] with score, max_score, status, name, number,
        output, visibility; top-level score, execution_time, output. Extra data under extra_data."""
        tests = []
        for a_index, assignment in enumerate(self.assignments, 1):
            for c_index, c in enumerate(assignment.checks, 1):
                output = c.output
                hint_zh, hint_en = (c.failure or {}).get("hint_zh") or c.hint_zh, (c.failure or {}).get("hint_en") or c.hint_en
                if c.status in ("failed", "skipped") and (hint_zh or hint_en):
                    output += f"\n\n提示：{hint_zh}\nHint: {hint_en}"
                test = {
                    "score": c.score,
                    "max_score": c.max_score,
                    "status": "passed" if c.status == "passed" else "failed",
                    "name": f"[{assignment.name}] {c.zh} / {c.en}",
                    "number": f"{a_index}.{c_index}",
                    "output": output.strip(),
                    "tags": [assignment.name, c.name],
                    "visibility": c.visibility,
                }
                if c.failure:   # the failure's parts, for tools that read more than the text
                    test["extra_data"] = {"failure": c.failure}
                tests.append(test)
            if assignment.penalty:   # a negative line, so the tests add up to the score
                tests.append({"score": -assignment.penalty, "max_score": 0, "status": "failed",
                              "name": f"[{assignment.name}] 迟交扣分 / late penalty",
                              "number": f"{a_index}.{len(assignment.checks) + 1}",
                              "output": f"迟交 {assignment.late_days} 天 / {assignment.late_days} day(s) late",
                              "tags": [assignment.name, "late_penalty"], "visibility": "visible"})
            extra = len(assignment.checks) + bool(assignment.penalty)
            for k, adjustment in enumerate(assignment.adjustments, 1):   # each its own line: the tests add up to the score
                tests.append({"score": adjustment["points"], "max_score": 0,
                              "status": "passed" if adjustment["points"] >= 0 else "failed",
                              "name": f"[{assignment.name}] 人工调整 / manual adjustment",
                              "number": f"{a_index}.{extra + k}",
                              "output": adjustment["reason"],
                              "tags": [assignment.name, "adjustment"], "visibility": "visible"})
        lines = [f"{a.name}: {a.score:g}/{a.max_score:g}" + (f" ({a.error})" if a.error else "")
                 + (f" — 迟交 {a.late_days} 天扣 {a.penalty:g} 分 / {a.late_days} day(s) late: "
                    f"-{a.penalty:g} points" if a.penalty else "")
                 + "".join(f" — 人工调整 / adjusted {x['points']:+g}: {x['reason']}" for x in a.adjustments)
                 for a in self.assignments]
        lines += [f"{a.name}: 评分时的适配 / adapted for grading: {note}" for a in self.assignments
                  for note in a.adaptations]
        lines.append(f"profile / 评分配置: {self.profile}; sandbox / 沙箱: {self.sandbox}")
        return {
            "score": self.score,
            "execution_time": round(self.execution_time),
            "output": "\n".join(lines),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
            "extra_data": {"max_score": self.max_score, "profile": self.profile, "sandbox": self.sandbox,
                           "limits": self.limits, "grader_version": self.grader_version,
                           "graded_at": self.graded_at},
        }


def dump(path, data: dict) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8", errors="replace")
    tmp.replace(path)
