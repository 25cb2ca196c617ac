"""Render reports with Jinja2: report.html per student, index.html and grades.csv per class."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from grader import assignments as registry
from grader.results import GRADE_FORMATS, SubmissionResult

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# A published report shows these (Gradescope's levels); "hidden" checks are counted, never shown.
REPORT_VISIBLE = ("visible", "after_due_date", "after_published")


def _env() -> Environment:
    # autoescape: check output quotes student text, which must never become markup
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", errors="replace")
    tmp.replace(path)


def render_submission(result: SubmissionResult, path: Path, shown=REPORT_VISIBLE) -> None:
    """A student's report for the staff: the checks whose visibility is in ``shown``; hidden ones only counted."""
    _write(path, _env().get_template("report.html.j2").render(
        r=result, shown={a.name: tuple(shown) for a in result.assignments}, student_page=False))


def render_student_page(result: SubmissionResult, shown: dict[str, tuple[str, ...]], published: bool) -> str:
    """A student's published page (grader/site.py): per assignment, the visibility levels shown today;
    the totals once the grades are published (or nothing is held back); a link to download it (one
    self-contained file)."""
    return _env().get_template("report.html.j2").render(r=result, shown=shown, student_page=True, published=published)


def check_pass_rates(results: list[SubmissionResult]) -> list[dict]:
    """Per check: how many students passed it, lowest pass rate first (what the class fails most)."""
    rows: dict[tuple, dict] = {}
    for r in results:
        for a in r.assignments:
            for c in a.checks:
                row = rows.setdefault((a.name, c.name), {"assignment": a.name, "name": c.name, "en": c.en,
                                                         "zh": c.zh, "passed": 0, "total": 0})
                row["total"] += 1
                row["passed"] += c.status == "passed"
    for row in rows.values():
        row["rate"] = row["passed"] / row["total"]
    return sorted(rows.values(), key=lambda row: (row["rate"], row["assignment"], row["name"]))


def score_histogram(results: list[SubmissionResult], bins: int = 10) -> list[dict]:
    """Students per tenth of the maximum score (the last bin includes full marks)."""
    counts = [0] * bins
    for r in results:
        fraction = r.score / r.max_score if r.max_score else 0.0
        counts[min(int(fraction * bins), bins - 1)] += 1
    top = max(counts) or 1
    return [{"label": f"{100 * i // bins}–{100 * (i + 1) // bins}%", "count": n, "height": n / top}
            for i, n in enumerate(counts)]


def render_class(results: list[SubmissionResult], path: Path, errors: dict | None = None,
                 similarity: bool = False) -> None:
    scores = sorted(r.score for r in results)
    summary = {"count": len(results), "mean": sum(scores) / len(scores) if scores else 0.0,
               "median": scores[len(scores) // 2] if scores else 0.0}
    _write(path, _env().get_template("index.html.j2").render(
        results=results, assignments=_assignments_of(results), rates=check_pass_rates(results),
        histogram=score_histogram(results), summary=summary, errors=errors or {}, similarity=similarity))


def _assignments_of(results: list[SubmissionResult]) -> list[str]:
    graded = {a.name for r in results for a in r.assignments}
    return [a for a in registry.names() if a in graded]


def grade_rows(results: list[SubmissionResult], fmt: str = "plain") -> list[list[str]]:
    """The gradebook as rows, in one of GRADE_FORMATS; scores after late penalties and adjustments.

    - plain: student (the folder name), each assignment, total, max.
    - canvas: the layout of Canvas's gradebook import (Grades > Import): Student, ID, SIS User ID,
      SIS Login ID, Section, then one column per assignment, and the "Points Possible" row Canvas
      exports second. The folder name goes in SIS Login ID (Canvas matches a row by ID, SIS User ID
      or SIS Login ID); a new column name creates that assignment in Canvas.
    - moodle: Moodle's "Import grades from CSV": Username, then one column per assignment, each
      mapped to its grade item on import.
    """
    if fmt not in GRADE_FORMATS:
        raise ValueError(f"unknown grades format {fmt!r}; choose from {', '.join(GRADE_FORMATS)}")
    assignments = _assignments_of(results)
    most = {a.name: a.max_score for r in results for a in r.assignments}

    def scores(r):
        by_name = {a.name: a.score for a in r.assignments}
        return [f"{by_name.get(a, 0):g}" for a in assignments]

    if fmt == "canvas":
        rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments],
                ["    Points Possible", "", "", "", "", *(f"{most[a]:g}" for a in assignments)]]
        return rows + [[r.student, "", "", r.student, "", *scores(r)] for r in results]
    if fmt == "moodle":
        return [["Username", *assignments]] + [[r.student, *scores(r)] for r in results]
    return [["student", *assignments, "total", "max"]] + [
        [r.student, *scores(r), f"{r.score:g}", f"{r.max_score:g}"] for r in results]


def write_grades_csv(results: list[SubmissionResult], path: Path, fmt: str = "plain") -> None:
    """grades.csv in one of GRADE_FORMATS (grade_rows), written atomically."""
    write_csv(path, grade_rows(results, fmt))


# what makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def spreadsheet_cell(value) -> str:
    """A cell no spreadsheet evaluates: text that starts like a formula gets a leading ' (OWASP's
    advice); numbers stay numbers. Student folder names and file names reach the gradebook."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(text) else text


def write_csv(path: Path, rows) -> None:
    """Every CSV the grader writes: cells neutralised (spreadsheet_cell), written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    tmp.replace(path)
