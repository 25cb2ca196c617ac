"""Publish a class run's reports to the students as a static site (`grader publish site`).

Each student's report sits at a link nobody can guess: a folder named by an HMAC of the student and
the assignments the report covers, keyed by the course's secret. The link is the same at every
publication (a regrade, an adjustment, a due date passing), so a link sent once keeps working;
rotating the secret changes every link and removes the old pages. The site holds those folders and
nothing else: no listing, no staff dashboard, no name but each student's own, on their own page.
What only the staff may see is written beside the site, never inside it: links.csv (student -> link,
which `grader publish canvas --links` puts in each comment) and the secret.

Each page is rendered at publication time with the course policy as it stands then (course.toml):
`visible` checks always; `after_due_date` ones once the assignment's due date has passed (with no due
date, once the grades are published); `after_published` ones once the grades are published
([course] grades_published = true, or --grades-published); `hidden` ones never. Until the grades are
published, a page holding any check back shows the points of what it shows, not the total. 每个学生只能通过无法猜到的链接
看到自己的报告，并且只看到课程策略当下允许公开的检查。
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.course import CoursePolicy
from grader.report import render_student_page, spreadsheet_cell, write_csv
from grader.results import SubmissionResult

MARKER = ".grader-site"          # in a site's root: the folder is ours to update (and to prune); its base URL
TOKEN = re.compile(r"[0-9a-f]{32}")   # a student's folder: 128 bits of HMAC-SHA256
EMPTY_ROOT = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>评分报告 / Grading reports</title></head>
<body><p>这里没有目录：请打开助教发给你的链接。<br>Nothing to list here: open the link the course staff sent you.</p></body></html>
"""


class SiteError(ValueError):
    """A site that cannot be published as asked; the message names the folder and the fix."""


@dataclass
class Published:
    links: dict[str, str]                                  # student -> their link
    links_csv: Path                                        # the staff's files, beside the site
    secret: Path
    written: list[str] = field(default_factory=list)       # students whose page is new or changed
    unchanged: list[str] = field(default_factory=list)
    removed: int = 0                                       # pages no student links to any more


def staff_files(site: Path) -> tuple[Path, Path]:
    """Where the staff-only files of a site live: beside it, never inside (links.csv, the secret)."""
    return site.parent / f"{site.name}-links.csv", site.parent / f"{site.name}.secret"


def course_secret(path: Path, rotate: bool = False) -> bytes:
    """The course's publishing secret: made on first use (readable by its owner only), then kept, so
    every link stays the same; ``rotate`` makes a new one (every link changes)."""
    if rotate or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        tmp.replace(path)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"{path}: cannot read the site's secret ({exc}); delete it to make a new one "
                        f"(every link then changes) / 无法读取密钥文件") from None
    if len(secret) < 32:
        raise SiteError(f"{path}: the secret is too short (under 32 characters); delete it, or --rotate-secret "
                        f"/ 密钥太短")
    return secret.encode()


def token(secret: bytes, student: str, assignments: list[str]) -> str:
    """A student's folder in the site: stable for the same student, assignments and secret; unguessable
    without the secret."""
    message = "\0".join([student, *sorted(assignments)]).encode("utf-8", "surrogateescape")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def levels_shown(policy: CoursePolicy, assignment: str, now: datetime, published: bool) -> tuple[str, ...]:
    """The visibility levels a student sees of one assignment today."""
    due = policy.for_assignment(assignment).due
    shown = ["visible"]
    if (due is not None and now >= due) or (due is None and published):
        shown.append("after_due_date")
    if published:
        shown.append("after_published")
    return tuple(shown)


def render_page(result: SubmissionResult, policy: CoursePolicy, now: datetime, published: bool) -> str:
    """The student's own report as one self-contained page (styles inline, nothing fetched)."""
    shown = {a.name: levels_shown(policy, a.name, now, published) for a in result.assignments}
    return render_student_page(result, shown, published)


def publish(results: list[SubmissionResult], site: Path, policy: CoursePolicy, *, base_url: str = "",
            published: bool = False, now: datetime | None = None, secret_file: Path | None = None,
            rotate: bool = False) -> Published:
    """Write (or update) the site: each student's page where it changed, links.csv beside it."""
    site = site.resolve()
    links_csv, default_secret = staff_files(site)
    if site.exists() and not site.is_dir():
        raise SiteError(f"{site} is a file; give a folder for the site / 站点应为文件夹")
    if site.is_dir() and any(site.iterdir()) and not (site / MARKER).is_file():
        raise SiteError(f"{site} holds files that are not a published site; give an empty or new folder "
                        f"(the site is rewritten there) / 该文件夹不是已发布的站点，请换一个空文件夹")
    now = now or datetime.now(timezone.utc)
    secret_file = secret_file or default_secret
    secret = course_secret(secret_file, rotate)
    base_url = base_url or _site_facts(site).get("base_url", "")   # given once, kept
    site.mkdir(parents=True, exist_ok=True)
    _write_if_changed(site / MARKER, json.dumps({"published_by": "grader publish site", "base_url": base_url}) + "\n")
    _write_if_changed(site / "index.html", EMPTY_ROOT)
    _write_if_changed(site / "robots.txt", "User-agent: *\nDisallow: /\n")
    done = Published(links={}, links_csv=links_csv, secret=secret_file)
    folders = {}
    for result in results:
        folder = token(secret, result.student, [a.name for a in result.assignments])
        folders[folder] = result.student
        done.links[result.student] = f"{base_url.rstrip('/')}/{folder}/" if base_url else f"{folder}/"
        page = render_page(result, policy, now, published)
        (done.written if _write_if_changed(site / folder / "index.html", page) else done.unchanged).append(result.student)
    for stale in site.iterdir():   # a rotated secret's pages, a student no longer in the class
        if stale.is_dir() and TOKEN.fullmatch(stale.name) and stale.name not in folders:
            shutil.rmtree(stale)
            done.removed += 1
    write_csv(links_csv, [["student", "link"], *sorted(done.links.items())])   # as every CSV: no formulas
    return done


def _site_facts(site: Path) -> dict:
    try:
        facts = json.loads((site / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def read_links(path: Path, students: list[str]) -> dict[str, str]:
    """links.csv of a published site: each of ``students`` that it lists -> their link (its names are
    written as every CSV of ours, a formula-like one with a leading ')."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SiteError(f"{path}: cannot read it ({exc.strerror}); it is written beside the site by "
                        f"`grader publish site` / 无法读取链接文件") from None
    if not rows or not {"student", "link"} <= set(rows[0]):
        raise SiteError(f"{path}: not a links.csv of `grader publish site` (columns student, link)")
    listed = {row["student"]: row["link"] for row in rows}
    return {s: listed[spreadsheet_cell(s)] for s in students if spreadsheet_cell(s) in listed}


def _write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; True when it was written."""
    data = text.encode("utf-8", "replace")
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
