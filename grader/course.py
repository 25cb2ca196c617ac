"""The course policy (course.toml): points per assignment, check visibility, due dates, late penalty.

    [assignments.qwen2_lora]
    points = 50                        # the checks' 100 scaled to 50
    due = 2026-12-01T23:59:00+08:00    # TOML datetime (with its offset)
    late_penalty_per_day = 0.1         # fraction of the points lost per day (or part of one) late
    max_late_days = 5                  # later than this scores 0
    visibility = { test_judge_answer = "after_published" }   # Gradescope's four levels

    [[adjustments]]                    # a manual adjustment, shown as its own line with its reason
    student = "alice"                  # the student's folder name
    assignment = "qwen2_lora"
    points = 5                         # added to the score (negative to take off), after any late penalty
    reason = "regrade request: the check was fixed after the deadline / 复查后加分"

    [course]
    grades_published = true            # students see after_published checks (`grader publish site`)

The submission time comes from Gradescope's submission_metadata.json (its `created_at`) in the
student's folder, or the one given with --metadata. Without one, no penalty is applied.
Adjustments are not part of what a class run's cache key covers: changing one regrades nobody, and
the next class run (or `--only alice`) rewrites that student's reports with it.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader import assignments as registry
from grader.plugin import VISIBILITIES

ASSIGNMENT_KEYS = {"points", "due", "late_penalty_per_day", "max_late_days", "visibility"}
COURSE_KEYS = {"grades_published"}
ADJUSTMENT_KEYS = {"student", "assignment", "points", "reason"}


class CourseError(ValueError):
    """A course.toml that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class AssignmentPolicy:
    points: float | None = None
    due: datetime | None = None
    late_penalty_per_day: float = 0.0
    max_late_days: float | None = None
    visibility: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Adjustment:
    student: str
    assignment: str
    points: float
    reason: str


@dataclass(frozen=True)
class CoursePolicy:
    assignments: dict = field(default_factory=dict)   # name -> AssignmentPolicy
    text: str = ""        # what grading depends on (the file without its adjustments): part of the cache key
    adjustments: tuple = ()                             # Adjustment, in the file's order
    grades_published: bool = False   # the staff published the grades: after_published checks are shown

    def for_assignment(self, name: str) -> AssignmentPolicy:
        return self.assignments.get(name, AssignmentPolicy())

    def adjustments_for(self, student: str, assignment: str) -> list[dict]:
        return [{"points": a.points, "reason": a.reason} for a in self.adjustments
                if a.student == student and a.assignment == assignment]


def load_policy(path: Path | None) -> CoursePolicy:
    if path is None:
        return CoursePolicy()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise CourseError(f"{path}: cannot read it ({exc.strerror}) / 无法读取课程配置") from None
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path}: not valid TOML: {exc}. Fix that line / 课程配置不是合法的 TOML") from None
    unknown_top = set(data) - {"assignments", "course", "adjustments"}
    if unknown_top:
        raise CourseError(f"{path}: unknown section(s) {sorted(unknown_top)}; use [course], "
                          f"[assignments.<name>] and [[adjustments]] / 未知的配置节")
    policies = {}
    for name, entry in data.get("assignments", {}).items():
        where = f"{path} [assignments.{name}]"
        if name not in registry.names():
            raise CourseError(f"{where}: unknown assignment; choose from {', '.join(registry.names())} / 未知作业")
        unknown = set(entry) - ASSIGNMENT_KEYS
        if unknown:
            raise CourseError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(ASSIGNMENT_KEYS)}")
        due = entry.get("due")
        if due is not None and not (isinstance(due, datetime) and due.tzinfo is not None):
            raise CourseError(f"{where}: due must be a TOML datetime with an offset, e.g. "
                              f"due = 2026-12-01T23:59:00+08:00 / 截止时间需要带时区")
        visibility = entry.get("visibility", {})
        bad = {k: v for k, v in visibility.items() if v not in VISIBILITIES}
        if bad:
            raise CourseError(f"{where}: visibility {bad}: use one of {', '.join(VISIBILITIES)}")
        for key in ("points", "late_penalty_per_day", "max_late_days"):
            value = entry.get(key)
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise CourseError(f"{where}: {key} must be a number >= 0, got {value!r}")
        policies[name] = AssignmentPolicy(points=entry.get("points"), due=due,
                                          late_penalty_per_day=float(entry.get("late_penalty_per_day", 0.0)),
                                          max_late_days=entry.get("max_late_days"), visibility=dict(visibility))
    adjustments = _adjustments(path, data.get("adjustments", []))
    course = data.get("course", {})
    unknown = set(course) - COURSE_KEYS if isinstance(course, dict) else {"(not a table)"}
    if unknown:
        raise CourseError(f"{path} [course]: unknown key(s) {sorted(unknown)}; allowed: {sorted(COURSE_KEYS)}")
    if not isinstance(course.get("grades_published", False), bool):
        raise CourseError(f"{path} [course]: grades_published must be true or false / 应为 true 或 false")
    # what grading depends on: publishing the grades (or adjusting one) regrades nobody
    graded_by = {k: v for k, v in data.items() if k not in ("adjustments", "course")}
    return CoursePolicy(assignments=policies, text=json.dumps(graded_by, sort_keys=True, default=str),
                        adjustments=adjustments, grades_published=course.get("grades_published", False))


def _adjustments(path: Path, entries) -> tuple:
    if not isinstance(entries, list):
        raise CourseError(f"{path}: write adjustments as [[adjustments]] tables (an array of tables) / "
                          f"人工调整请写成 [[adjustments]]")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"{path} [[adjustments]] #{number}"
        if not isinstance(entry, dict):
            raise CourseError(f"{where}: not a table; write [[adjustments]] then student = ..., assignment = ..., "
                              f"points = ..., reason = ...")
        missing, unknown = ADJUSTMENT_KEYS - set(entry), set(entry) - ADJUSTMENT_KEYS
        if missing or unknown:
            raise CourseError(f"{where}: " + "; ".join(
                ([f"missing {sorted(missing)}"] if missing else []) + ([f"unknown {sorted(unknown)}"] if unknown else []))
                + f"; an adjustment has exactly {sorted(ADJUSTMENT_KEYS)} / 人工调整需要 student、assignment、points、reason")
        if entry["assignment"] not in registry.names():
            raise CourseError(f"{where}: unknown assignment {entry['assignment']!r}; choose from "
                              f"{', '.join(registry.names())} / 未知作业")
        if not isinstance(entry["student"], str) or not entry["student"].strip():
            raise CourseError(f"{where}: student must be the student's folder name / student 应为学生文件夹名")
        points = entry["points"]
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points):
            raise CourseError(f"{where}: points must be a number (negative to take points off), got {points!r}")
        if not isinstance(entry["reason"], str) or not entry["reason"].strip():
            raise CourseError(f"{where}: give the reason the student will read / 请写明调整原因")
        found.append(Adjustment(entry["student"], entry["assignment"], float(points), entry["reason"].strip()))
    return tuple(found)


def submission_time(student_dir: Path, metadata: Path | None = None) -> datetime | None:
    """`created_at` from Gradescope's submission_metadata.json, when there is one."""
    path = metadata or student_dir / "submission_metadata.json"
    if path.is_symlink() or not path.is_file() or path.stat().st_size > 1024 * 1024:
        return None
    try:
        created = json.loads(path.read_text(encoding="utf-8"))["created_at"]
        when = datetime.fromisoformat(created)
    except (ValueError, KeyError, TypeError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def apply_adjustments(result, policy: CoursePolicy) -> bool:
    """Put the policy's adjustments for this student on each assignment; True when that changed
    anything (the student's reports then need writing again)."""
    changed = False
    for assignment in result.assignments:
        wanted = policy.adjustments_for(result.student, assignment.name)
        changed |= wanted != assignment.adjustments
        assignment.adjustments = wanted
    return changed


def apply_policy(result, policy: CoursePolicy, submitted_at: datetime | None) -> None:
    """Scale each assignment to its points, set check visibility, apply the late penalty and the
    manual adjustments."""
    apply_adjustments(result, policy)
    for assignment in result.assignments:
        rule = policy.for_assignment(assignment.name)
        for check in assignment.checks:
            check.visibility = rule.visibility.get(check.name, check.visibility)
        raw_max = assignment.max_score
        if rule.points is not None and raw_max:
            factor = rule.points / raw_max
            for check in assignment.checks:
                check.score, check.max_score = check.score * factor, check.max_score * factor
        if rule.due and submitted_at and submitted_at > rule.due:
            days = math.ceil((submitted_at - rule.due).total_seconds() / 86400)
            late_out = rule.max_late_days is not None and days > rule.max_late_days
            fraction = 1.0 if late_out else min(1.0, days * rule.late_penalty_per_day)
            assignment.late_days = days
            assignment.penalty = round(fraction * sum(c.score for c in assignment.checks), 4)
