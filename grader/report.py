"""Render reports with Jinja2: report.html per student, index.html and grades.csv per class."""
from __future__ import annotations

import csv
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from grader import ASSIGNMENTS
from grader.results import SubmissionResult

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _env() -> Environment:
    # autoescape: check output quotes student text, which must never become markup
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def render_submission(result: SubmissionResult, path: Path) -> None:
    _write(path, _env().get_template("report.html.j2").render(r=result))


def render_class(results: list[SubmissionResult], path: Path) -> None:
    _write(path, _env().get_template("index.html.j2").render(results=results, assignments=ASSIGNMENTS))


def write_grades_csv(results: list[SubmissionResult], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *ASSIGNMENTS, "total", "max"])
        for r in results:
            by_name = {a.name: a.score for a in r.assignments}
            writer.writerow([r.student, *(f"{by_name.get(a, 0):g}" for a in ASSIGNMENTS),
                             f"{r.score:g}", f"{r.max_score:g}"])
    tmp.replace(path)
