"""The course staff's week around a class run: regrading some students (--only), manual adjustments
with a reason (course.toml [[adjustments]]) kept across regrades, the gradebook in Canvas's and
Moodle's import layouts, and `grader publish canvas` against a fake Canvas server started here."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from grader.classrun import ClassRunError, LocalExecutor, grade_class
from grader.course import CourseError, apply_policy, load_policy
from grader.report import grade_rows
from grader.runner import write_reports
from tests.test_class_grading import CHAT, chat_class
from tests.test_results_format import sample, validate_gradescope

ADJUSTED = """
[[adjustments]]
student = "bob"
assignment = "qwen2_chat"
points = 10
reason = "复查：滑块检查在截止后修正 / regrade: the slider check was fixed after the deadline"
"""


def _graded_at(out, student):
    return json.loads((out / student / "grader-result.json").read_text(encoding="utf-8"))["graded_at"]


def test_only_regrades_the_named_students_and_adjustments_survive_regrades(tmp_path):
    klass, out = chat_class(tmp_path / "class"), tmp_path / "reports"
    grade_class(klass, out, assignments=CHAT, executor=LocalExecutor(workers=2), stream=io.StringIO())
    before = {s: _graded_at(out, s) for s in ("alice", "bob", "carol")}
    course = tmp_path / "course.toml"
    course.write_text(ADJUSTED, encoding="utf-8")

    log = io.StringIO()
    results = grade_class(klass, out, assignments=CHAT, executor=LocalExecutor(workers=1), policy_path=course,
                          only=("alice",), stream=log)
    assert [r.student for r in results] == ["alice", "bob", "carol"], log.getvalue()   # the pages stay whole
    assert _graded_at(out, "alice") != before["alice"]                      # regraded
    assert {s: _graded_at(out, s) for s in ("bob", "carol")} == {s: before[s] for s in ("bob", "carol")}
    # bob was not regraded, yet his reports carry the adjustment as its own line
    data = json.loads((out / "bob" / "results.json").read_text(encoding="utf-8"))
    validate_gradescope(data)
    line = [t for t in data["tests"] if "adjustment" in t["tags"]]
    assert data["score"] == 95 and len(line) == 1 and line[0]["score"] == 10 and "regrade" in line[0]["output"]
    assert "slider check was fixed" in (out / "bob" / "report.html").read_text(encoding="utf-8")
    rows = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert rows == {"alice": "100", "bob": "95", "carol": "0"}
    assert "adjusted +10" in (out / "index.html").read_text(encoding="utf-8")

    # regrading bob himself keeps his adjustment
    results = grade_class(klass, out, assignments=CHAT, executor=LocalExecutor(workers=1), policy_path=course,
                          only=("bob",), stream=io.StringIO())
    assert _graded_at(out, "bob") != before["bob"]
    assert {r.student: r.score for r in results} == {"alice": 100, "bob": 95, "carol": 0}

    with pytest.raises(ClassRunError, match="dave"):
        grade_class(klass, out, assignments=CHAT, only=("dave",), stream=io.StringIO())


@pytest.mark.parametrize("text, words", [
    ('[[adjustments]]\nstudent = "bob"\nassignment = "qwen2_chat"\npoints = 5\n', ["missing", "reason"]),
    ('[[adjustments]]\nstudent = "bob"\nassignment = "nope"\npoints = 5\nreason = "x"\n', ["unknown assignment"]),
    ('[[adjustments]]\nstudent = "bob"\nassignment = "qwen2_chat"\npoints = "5"\nreason = "x"\n', ["number"]),
    ('[[adjustments]]\nstudent = "bob"\nassignment = "qwen2_chat"\npoints = 5\nreason = " "\n', ["reason"]),
    ('adjustments = 3\n', ["[[adjustments]]"]),
])
def test_a_bad_adjustment_names_the_file_and_the_fix(tmp_path, text, words):
    path = tmp_path / "course.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CourseError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and all(w in str(err.value) for w in words), err.value


def test_adjustments_are_not_part_of_the_cache_key(tmp_path):
    """Changing an adjustment must regrade nobody: the key covers only what grading depends on."""
    plain, adjusted = tmp_path / "a.toml", tmp_path / "b.toml"
    plain.write_text("[assignments.qwen2_chat]\npoints = 10\n", encoding="utf-8")
    adjusted.write_text("[assignments.qwen2_chat]\npoints = 10\n" + ADJUSTED, encoding="utf-8")
    assert load_policy(plain).text == load_policy(adjusted).text
    assert load_policy(adjusted).adjustments_for("bob", "qwen2_chat")[0]["points"] == 10


# ---------------------------------------------------------------- gradebook layouts

def read_canvas_import(text: str) -> dict:
    """A reader written to Canvas's documented gradebook import format: a header of Student, ID,
    SIS User ID, SIS Login ID, Section (in that order) then one column per assignment; an optional
    "Points Possible" row second; each later row a student found by ID, SIS User ID or SIS Login ID,
    each score a number or empty. Returns {login: {assignment: score}} and the points possible."""
    rows = list(csv.reader(io.StringIO(text)))
    fixed = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[0][:5] == fixed, rows[0]
    assignments = rows[0][5:]
    assert assignments and all(a.strip() for a in assignments)
    body = rows[1:]
    possible = {}
    if body and body[0][0].strip() == "Points Possible":
        possible = {a: float(v) for a, v in zip(assignments, body[0][5:])}
        body = body[1:]
    grades = {}
    for row in body:
        assert len(row) == len(rows[0]), row
        key = row[1] or row[2] or row[3]
        assert key, f"no ID, SIS User ID or SIS Login ID: {row}"
        grades[key] = {a: (float(v) if v else None) for a, v in zip(assignments, row[5:])}
    return {"grades": grades, "possible": possible}


def _class_results():
    results = [sample("alice"), sample("bob")]
    policy_text = ADJUSTED.replace("qwen2_chat", "qwen2_lora").replace("points = 10", "points = -2")
    return results, policy_text


def test_grades_in_canvas_and_moodle_layouts(tmp_path):
    results, policy_text = _class_results()
    (tmp_path / "course.toml").write_text(policy_text, encoding="utf-8")
    for r in results:
        apply_policy(r, load_policy(tmp_path / "course.toml"), None)
    text = "\n".join(",".join(row) for row in grade_rows(results, "canvas"))
    parsed = read_canvas_import(text)
    assert parsed["grades"] == {"alice": {"qwen2_lora": 10.0}, "bob": {"qwen2_lora": 8.0}}
    assert parsed["possible"] == {"qwen2_lora": 20.0}
    moodle = grade_rows(results, "moodle")
    assert moodle == [["Username", "qwen2_lora"], ["alice", "10"], ["bob", "8"]]


def test_gradebook_cells_never_run_as_formulas(tmp_path):
    """Student folder names a spreadsheet would evaluate (OWASP CSV injection) reach every layout of
    grades.csv as text, and the Canvas and Moodle readers still read every student and score."""
    from grader.report import write_grades_csv
    from tests.test_similarity import FORMULA_NAMES, _no_formula

    results = [sample(name) for name in (*FORMULA_NAMES, "alice")]
    for fmt in ("plain", "canvas", "moodle"):
        path = tmp_path / f"grades-{fmt}.csv"
        write_grades_csv(results, path, fmt)
        cells = _no_formula(path)
        assert all("'" + name in cells for name in FORMULA_NAMES[:3]) and "alice" in cells, cells
        text = path.read_text(encoding="utf-8")
        if fmt == "canvas":
            grades = read_canvas_import(text)["grades"]
            assert set(grades) == {"'" + n for n in FORMULA_NAMES} | {"alice"}
            assert all(g == {"qwen2_lora": 10.0} for g in grades.values()), grades
        if fmt == "moodle":
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == ["Username", "qwen2_lora"] and len(rows) == len(results) + 1


def test_grades_command_reexports_a_class_run(tmp_path):
    out = tmp_path / "reports"
    for r in _class_results()[0]:
        (out / r.student).mkdir(parents=True)
        write_reports(r, out / r.student)
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grades", str(out), "--format", "canvas"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    parsed = read_canvas_import((out / "grades-canvas.csv").read_text(encoding="utf-8"))
    assert set(parsed["grades"]) == {"alice", "bob"}
    empty = subprocess.run([sys.executable, "-m", "grader.cli", "grades", str(tmp_path / "none")],
                           capture_output=True, text=True, timeout=120)
    assert empty.returncode == 2 and "--out folder" in empty.stderr


# ---------------------------------------------------------------- publish canvas

TOKEN = "secret-token-9f3b7e"


class FakeCanvas:
    """The part of Canvas's REST API that publishing uses, as its documentation describes it:
    the course, its students (two pages, a Link header), its assignments, the bulk grade update
    (form-encoded grade_data[<user id>][posted_grade|text_comment]) and the progress it returns."""

    def __init__(self):
        self.users = [{"id": 101, "name": "Alice", "login_id": "alice", "sis_user_id": "S1"},
                      {"id": 102, "name": "Bob", "login_id": "b.ob", "sis_user_id": "S2", "email": "bob"}]
        self.assignments = [{"id": 55, "course_id": 7, "name": "qwen2_lora", "points_possible": 20},
                            {"id": 56, "course_id": 7, "name": "Something else", "points_possible": 10}]
        self.grades, self.headers, self.progress_polls, self.updated = {}, [], 0, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, data, status=200, link=None):
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if link:
                    self.send_header("Link", link)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self):
                fake.headers.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._json({"errors": [{"message": "Invalid access token."}]}, 401)
                    return False
                return True

            def do_GET(self):
                if not self._authorised():
                    return
                url = urlparse(self.path)
                query = parse_qs(url.query)
                base = f"http://127.0.0.1:{fake.port}"
                if url.path == "/api/v1/courses/7":
                    return self._json({"id": 7, "name": "LLM course"})
                if url.path == "/api/v1/courses/7/search_users":
                    assert query.get("enrollment_type[]") == ["student"], query
                    if query.get("page") == ["2"]:
                        return self._json(fake.users[1:])
                    # Canvas's next link carries the query along
                    return self._json(fake.users[:1],
                                      link=f'<{base}{url.path}?enrollment_type[]=student&page=2>; rel="next"')
                if url.path == "/api/v1/courses/7/assignments":
                    return self._json(fake.assignments)
                if url.path == "/api/v1/progress/9":
                    fake.progress_polls += 1
                    return self._json({"id": 9, "workflow_state": "completed"})
                return self._json({"errors": [{"message": "not found"}]}, 404)

            def do_POST(self):
                if not self._authorised():
                    return
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                found = re.fullmatch(r"/api/v1/courses/7/assignments/(\d+)/submissions/update_grades",
                                     urlparse(self.path).path)
                if not found or int(found[1]) not in {a["id"] for a in fake.assignments}:
                    return self._json({"errors": [{"message": "not found"}]}, 404)
                fake.updated.append(int(found[1]))
                for key, (value,) in form.items():   # grade_data[101][posted_grade]
                    user, field = key[len("grade_data["):-1].split("][")
                    fake.grades.setdefault(int(user), {})[field] = value
                return self._json({"id": 9, "workflow_state": "queued"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canvas():
    fake = FakeCanvas()
    yield fake
    fake.close()


def _publish(out, canvas, *extra, token=TOKEN):
    env = {k: v for k, v in os.environ.items() if k != "CANVAS_API_TOKEN"}
    if token is not None:
        env["CANVAS_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "grader.cli", "publish", "canvas", str(out), "--url",
                           f"http://127.0.0.1:{canvas.port}", "--course-id", "7", *extra],
                          capture_output=True, text=True, timeout=120, env=env)


def test_publish_canvas_uploads_scores_and_report_links_without_leaking_the_token(tmp_path, canvas):
    out = tmp_path / "reports"
    results = [sample("alice"), sample("bob"), sample("zoe")]      # zoe is not enrolled
    for r in results:
        (out / r.student).mkdir(parents=True)
        write_reports(r, out / r.student)
    dry = _publish(out, canvas, "--dry-run")
    assert dry.returncode == 1 and canvas.grades == {} and "zoe" in dry.stderr, dry.stdout + dry.stderr

    done = _publish(out, canvas, "--report-url", "https://staff.example.edu/llm/reports")
    assert done.returncode == 1, done.stdout + done.stderr      # zoe could not be uploaded: said, not hidden
    assert "zoe" in done.stderr and "qwen2_lora -> qwen2_lora (55): 2 grade(s)" in done.stdout
    assert set(canvas.grades) == {101, 102} and canvas.updated == [55]   # alice by login, bob by email
    assert canvas.grades[101]["posted_grade"] == "10"
    assert "https://staff.example.edu/llm/reports/alice/report.html#qwen2_lora" in canvas.grades[101]["text_comment"]
    assert "any student can read another's" in done.stderr   # that folder's links can be guessed: said
    # the students' site: each comment links the student's own page, which nobody can guess
    site = subprocess.run([sys.executable, "-m", "grader.cli", "publish", "site", str(out), "--out",
                           str(tmp_path / "site"), "--base-url", "https://course.example.edu/r"],
                          capture_output=True, text=True, timeout=120)
    assert site.returncode == 0, site.stderr
    linked = _publish(out, canvas, "--links", str(tmp_path / "site-links.csv"))
    assert linked.returncode == 1 and "any student can read" not in linked.stderr, linked.stderr
    link = re.search(r"https://course\.example\.edu/r/([0-9a-f]{32})/#qwen2_lora", canvas.grades[101]["text_comment"])
    assert link and (tmp_path / "site" / link[1] / "index.html").is_file() and "alice" not in link[0]
    assert canvas.progress_polls >= 1
    assert set(canvas.headers) == {f"Bearer {TOKEN}"}
    # the token is only ever in the request header: not in the output, not in any file written
    assert TOKEN not in done.stdout + done.stderr + dry.stdout + dry.stderr
    assert not any(TOKEN.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_publish_canvas_errors_name_the_fix(tmp_path, canvas):
    out = tmp_path / "reports"
    (out / "alice").mkdir(parents=True)
    write_reports(sample("alice"), out / "alice")
    missing = _publish(out, canvas, token=None)
    assert missing.returncode == 2 and "CANVAS_API_TOKEN" in missing.stderr
    wrong = _publish(out, canvas, token="wrong-token-123")
    assert wrong.returncode == 2 and "Canvas refused" in wrong.stderr and "wrong-token-123" not in wrong.stderr
    canvas.assignments = canvas.assignments[1:]
    unnamed = _publish(out, canvas)
    assert unnamed.returncode == 2 and "--assignment-id qwen2_lora=" in unnamed.stderr and "Something else (56)" in unnamed.stderr
    by_id = _publish(out, canvas, "--assignment-id", "qwen2_lora=56")
    assert by_id.returncode == 0 and canvas.updated[-1] == 56 and canvas.grades[101]["posted_grade"] == "10", by_id.stderr
