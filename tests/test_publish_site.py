"""`grader publish site`: each student's report at a link nobody can guess, showing what the course
policy lets them see today, and nothing of anyone else (issue 29). The example class in a real browser
is in tests/test_examples.py (it reuses that test's grading)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader.runner import write_reports
from grader.site import TOKEN, read_links
from tests.test_results_format import sample

STUDENTS = ("alice_w", "bob_zhang", "carol_qian")
DUE = "2026-12-01T23:59:00+08:00"


def _class(reports: Path, students=STUDENTS) -> None:
    for student in students:
        result = sample(student)
        checks = result.assignments[0].checks
        checks[1].visibility = "after_due_date"      # test_b: failed, its output <script>x</script>
        checks[2].visibility = "hidden"              # test_c
        checks.append(type(checks[0])("qwen2_lora", "test_d", "D works", "D 正常", 5, 5, "passed",
                                      output=f"log of {student}", visibility="after_published"))
        (reports / student).mkdir(parents=True, exist_ok=True)
        write_reports(result, reports / student)


def _publish(reports: Path, site: Path, *extra: str, course: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", "publish", "site", str(reports), "--out", str(site),
                           *(["--course", str(course)] if course else []), *extra],
                          capture_output=True, text=True, timeout=120)


def _links(site: Path, students=STUDENTS) -> dict[str, str]:
    return read_links(site.parent / f"{site.name}-links.csv", list(students))


def _page(site: Path, link: str) -> str:
    return (site / link.rstrip("/").rsplit("/", 1)[-1] / "index.html").read_text(encoding="utf-8")


def test_each_student_has_a_link_nobody_can_guess_and_the_site_names_nobody_else(tmp_path):
    reports, site = tmp_path / "reports", tmp_path / "site"
    _class(reports)
    first = _publish(reports, site, "--base-url", "https://course.example.edu/llm/")
    assert first.returncode == 0, first.stderr
    links = _links(site)
    assert set(links) == set(STUDENTS) and "3 page(s) written" in first.stdout
    for student, link in links.items():
        folder = link.removeprefix("https://course.example.edu/llm/").rstrip("/")
        assert TOKEN.fullmatch(folder) and student not in link   # 128 bits of HMAC, not the name
    # the whole site: each student's name on their own page only; no listing, no dashboard, no staff file
    everything = sorted(p for p in site.rglob("*"))
    assert {p.name for p in everything if p.is_file()} == {"index.html", "robots.txt", ".grader-site"}
    assert not (site / "grades.csv").exists() and not any(p.suffix == ".csv" for p in everything)
    for path in everything:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        named = {s for s in STUDENTS if s in str(path.relative_to(site)) or s in text}
        owner = next((s for s, link in links.items() if link.rstrip("/").endswith(path.parent.name)), None)
        assert named <= {owner}, (path, named)
        if path.name == "index.html" and owner:
            assert named == {owner} and "<script>x</script>" not in text   # student text stays text
    assert (site / "robots.txt").read_text() == "User-agent: *\nDisallow: /\n"
    secret = site.parent / "site.secret"
    assert secret.stat().st_mode & 0o077 == 0   # the owner's alone

    # a regrade of one student rewrites that page alone; every link stays
    result = json.loads((reports / "bob_zhang" / "grader-result.json").read_text())
    result["assignments"][0]["checks"][0]["score"] = 7.0
    (reports / "bob_zhang" / "grader-result.json").write_text(json.dumps(result))
    again = _publish(reports, site)
    assert again.returncode == 0 and "1 page(s) written, 2 unchanged, 0 removed" in again.stdout, again.stdout
    assert _links(site) == links   # the base URL is remembered too
    # a rotated secret: every link changes and the old pages are gone
    rotated = _publish(reports, site, "--rotate-secret")
    assert rotated.returncode == 0 and "3 removed" in rotated.stdout
    assert not set(_links(site).values()) & set(links.values())
    assert len([p for p in site.iterdir() if p.is_dir()]) == 3


def test_a_page_shows_what_the_course_policy_lets_the_student_see_today(tmp_path):
    reports, site = tmp_path / "reports", tmp_path / "site"
    _class(reports, ("alice_w",))
    course = tmp_path / "course.toml"
    course.write_text(f"[assignments.qwen2_lora]\ndue = {DUE}\n")

    def page(*extra):
        done = _publish(reports, site, *extra, course=course)
        assert done.returncode == 0, done.stderr
        return _page(site, _links(site, ["alice_w"])["alice_w"])

    before = page("--now", "2026-12-01T12:00:00+08:00")
    assert "A 正常" in before and "B 正常" not in before and "D 正常" not in before and "log of alice_w" not in before
    assert "C 正常" not in before and 'class="score">10 / 10' in before   # the points shown, not the total
    assert "The total is shown once the grades are published" in before
    after_due = page("--now", "2026-12-02T00:00:00+08:00")
    assert "B 正常" in after_due and "D 正常" not in after_due and 'class="score">10 / 15' in after_due
    published = page("--now", "2026-12-02T00:00:00+08:00", "--grades-published")
    assert "D 正常" in published and "log of alice_w" in published and "C 正常" not in published
    assert "The total is shown" not in published and "1 more check(s) (5 points) are not shown yet" in published
    # the same from course.toml; and a page a phone and a printer can read, downloadable as one file
    course.write_text(f"[course]\ngrades_published = true\n\n[assignments.qwen2_lora]\ndue = {DUE}\n")
    assert page("--now", "2026-12-02T00:00:00+08:00") == published
    assert 'name="viewport"' in published and "@media print" in published and 'download="report-alice_w.html"' in published
    assert "<link" not in published and "<script" not in published and "src=" not in published   # nothing fetched


def test_links_csv_is_written_as_every_csv_of_ours_and_still_finds_each_student(tmp_path):
    reports, site = tmp_path / "reports", tmp_path / "site"
    _class(reports, ("=HYPERLINK(1)", "alice_w"))
    assert _publish(reports, site).returncode == 0
    rows = (tmp_path / "site-links.csv").read_text(encoding="utf-8").splitlines()
    assert rows[1].startswith("'=HYPERLINK(1),")   # a spreadsheet never evaluates a student's folder name
    links = _links(site, ["=HYPERLINK(1)", "alice_w"])
    assert set(links) == {"=HYPERLINK(1)", "alice_w"} and TOKEN.fullmatch(links["=HYPERLINK(1)"].rstrip("/"))


def test_publishing_refuses_folders_that_would_lose_or_leak_something(tmp_path):
    reports = tmp_path / "reports"
    _class(reports, ("alice_w",))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    refused = _publish(reports, busy)
    assert refused.returncode == 2 and "not a published site" in refused.stderr
    assert (busy / "notes.txt").read_text() == "mine"
    inside = _publish(reports, reports / "site")
    assert inside.returncode == 2 and "inside the class run's folder" in inside.stderr
    bad = tmp_path / "course.toml"
    bad.write_text("[course]\ngrades_published = \"yes\"\n")
    wrong = _publish(reports, tmp_path / "site", course=bad)
    assert wrong.returncode == 2 and "grades_published must be true or false" in wrong.stderr
    assert not os.path.exists(tmp_path / "site")
