"""Grades into the LMS: `grader publish canvas` uploads a class run's scores, each with a comment
linking the student's report, through the Canvas REST API (canvasapi).

The token comes from the environment (CANVAS_API_TOKEN) and goes only into the Authorization header
canvasapi sends: it is never printed, logged or written anywhere.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from grader.results import SubmissionResult

TOKEN_VARIABLE = "CANVAS_API_TOKEN"
PROGRESS_TIMEOUT_S = 300     # Canvas applies a bulk grade update as a background job: wait this long for it


class PublishError(RuntimeError):
    """Publishing cannot go on; the message names the fix (and never holds the token)."""


@dataclass
class Upload:
    assignment: str
    canvas_assignment: str               # its name in Canvas, with its id
    target: object = None                # the canvasapi Assignment
    grades: dict = field(default_factory=dict)      # Canvas user id -> {"posted_grade", "text_comment"}
    students: dict = field(default_factory=dict)    # Canvas user id -> the student's folder name


@dataclass
class Plan:
    uploads: list[Upload]
    unmatched: list[str]                 # students with no Canvas enrollment of that login


def comment(result: SubmissionResult, assignment, link: str | None) -> str:
    """The grade's comment: the score, the adjustments, and the link to the student's own report."""
    text = f"自动评分 / autograded {assignment.name}: {assignment.score:g}/{assignment.max_score:g}"
    text += "".join(f"\n人工调整 / adjusted {a['points']:+g}: {a['reason']}" for a in assignment.adjustments)
    if link:
        text += f"\n报告 / report: {link}#{assignment.name}"
    return text


def folder_links(report_url: str, results: list[SubmissionResult]) -> dict[str, str]:
    """Links into a class run's own folder published as it is (<url>/<student>/report.html): guessable,
    so any student can read another's; `grader publish site` gives links that are not."""
    return {r.student: f"{report_url.rstrip('/')}/{quote(r.student)}/report.html" for r in results}


def _names(assignment: str) -> set[str]:
    from grader import assignments as registry

    declared = registry.get(assignment)
    return {n.casefold() for n in (assignment, declared.en, declared.zh)}


def plan(course, results: list[SubmissionResult], links: dict[str, str] | None = None,
         assignment_ids: dict[str, int] | None = None) -> Plan:
    """Match the class to the Canvas course: students by login (SIS login id, SIS user id or email
    equal to the folder name), assignments by id (``assignment_ids``) or by name."""
    users = {}
    for user in course.get_users(enrollment_type=["student"], include=["email"]):
        for key in ("login_id", "sis_user_id", "email"):
            value = getattr(user, key, None)
            if value:
                users.setdefault(str(value).casefold(), user.id)
    in_canvas = list(course.get_assignments())
    uploads, unmatched = [], sorted(r.student for r in results if r.student.casefold() not in users)
    for name in dict.fromkeys(a.name for r in results for a in r.assignments):
        wanted = (assignment_ids or {}).get(name)
        found = [a for a in in_canvas if (a.id == wanted if wanted is not None else a.name.casefold() in _names(name))]
        if not found:
            listed = ", ".join(f"{a.name} ({a.id})" for a in in_canvas) or "none"
            raise PublishError(f"no Canvas assignment for {name}: create one named {name!r}, or pass "
                               f"--assignment-id {name}=<id> (the course has: {listed}) / Canvas 中没有对应的作业")
        upload = Upload(name, f"{found[0].name} ({found[0].id})", target=found[0])
        for result in results:
            user_id = users.get(result.student.casefold())
            graded_here = next((a for a in result.assignments if a.name == name), None)
            if user_id is None or graded_here is None:
                continue
            upload.grades[user_id] = {"posted_grade": f"{graded_here.score:g}",
                                      "text_comment": comment(result, graded_here, (links or {}).get(result.student))}
            upload.students[user_id] = result.student
        uploads.append(upload)
    return Plan(uploads, unmatched)


def connect(url: str):
    from canvasapi import Canvas

    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise PublishError(f"set {TOKEN_VARIABLE} to a Canvas access token (Account > Settings > New Access "
                           f"Token); it is read from the environment only / 请在环境变量 {TOKEN_VARIABLE} 中提供令牌")
    return Canvas(url.rstrip("/"), token)


def publish(url: str, course_id: int, results: list[SubmissionResult], links: dict[str, str] | None = None,
            assignment_ids: dict[str, int] | None = None, dry_run: bool = False, stream=None) -> Plan:
    """Upload each assignment's scores and comments in one bulk update, and wait for Canvas to apply it."""
    from canvasapi.exceptions import CanvasException

    try:
        course = connect(url).get_course(course_id)
        found = plan(course, results, links, assignment_ids)
        for upload in found.uploads:
            print(f"{upload.assignment} -> {upload.canvas_assignment}: {len(upload.grades)} grade(s)"
                  f"{' (dry run: nothing sent)' if dry_run else ''}", file=stream, flush=True)
            if dry_run or not upload.grades:
                continue
            progress = upload.target.submissions_bulk_update(grade_data=upload.grades)
            _wait(progress, upload)
    except CanvasException as exc:   # canvasapi's own: bad token, no such course, no permission
        raise PublishError(f"Canvas refused: {type(exc).__name__}: {str(exc)[:300]} (check --url, --course-id and "
                           f"that the token's user teaches the course) / Canvas 拒绝了请求") from None
    return found


def _wait(progress, upload: Upload) -> None:
    deadline = time.monotonic() + PROGRESS_TIMEOUT_S
    while getattr(progress, "workflow_state", "completed") in ("queued", "running"):
        if time.monotonic() > deadline:
            raise PublishError(f"{upload.assignment}: Canvas has not applied the grades after {PROGRESS_TIMEOUT_S} s; "
                               f"check the gradebook, then run publish again (it sets the same grades) / 超时")
        time.sleep(1)
        progress = progress.query()
    if progress.workflow_state != "completed":
        raise PublishError(f"{upload.assignment}: Canvas's grade update ended {progress.workflow_state!r}: "
                           f"{getattr(progress, 'message', '')} / Canvas 更新成绩失败")
