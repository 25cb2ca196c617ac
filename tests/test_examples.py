"""`make demo`'s class: the CLI grades a folder of submissions into reports, an index and a CSV."""
from __future__ import annotations

import csv
import functools
import json
import os
import subprocess
import sys
import threading
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from grader.assignments import get, names
from grader.profiles import REPO
from grader.site import read_links
from tests.browser import CHROMIUM, CHROMIUM_ARGS, artifact_dir
from tests.conftest import DEEPSPEED
from tests.test_results_format import validate_gradescope


@pytest.fixture(scope="module")
def example_class(tmp_path_factory):
    """`make demo`'s grading: the example class graded once by the CLI (it trains minicpm_deepspeed three times)."""
    out = tmp_path_factory.mktemp("example") / "reports"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(REPO / "examples" / "submissions"),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@DEEPSPEED
def test_cli_grades_the_example_class(example_class):
    out = example_class
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    # each assignment's expected scores and failed checks: grader/checks/<assignment>/expected_examples.toml
    expected = {a: tomllib.loads(get(a).expected_examples.read_text(encoding="utf-8")) for a in names()}
    for student, row in rows.items():
        assert {a: row[a] for a in names()} == {a: f"{expected[a][student]['score']:g}" for a in names()}, student
        data = json.loads((out / student / "results.json").read_text())
        validate_gradescope(data)
        failed = {(t["tags"][0], t["tags"][1]) for t in data["tests"] if t["status"] == "failed"}
        want = {(a, c) for a in names() if expected[a][student]["score"] for c in expected[a][student].get("failed", [])}
        assert {f for f in failed if expected[f[0]][student]["score"]} == want, student
        assert (out / student / "report.html").exists()
    carol = (out / "carol" / "report.html").read_text()
    assert "TrainingArgs" in carol and "GenerationConfg" in carol   # the student sees why
    index = (out / "index.html").read_text()
    assert all(f'href="{s}/report.html"' in index for s in rows)


@DEEPSPEED
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_the_published_site_shows_each_student_their_own_report_in_a_browser(example_class, tmp_path):
    """`grader publish site` over the example class, served over HTTP and opened in headless Chromium:
    each link loads that student's page, with their name and checks and nobody else's."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not importable")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "grader.cli", "publish", "site", str(example_class), "--out", str(site),
                           "--grades-published"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    links = read_links(tmp_path / "site-links.csv", ["alice", "bob", "carol"])
    assert set(links) == {"alice", "bob", "carol"}
    for path in site.rglob("*"):   # the whole site: each name on its own page only
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        named = {s for s in links if s in str(path.relative_to(site)) or s in text}
        assert named <= {s for s, link in links.items() if link.rstrip("/").endswith(path.parent.name)}, path
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            requests: list[str] = []
            for student, link in sorted(links.items()):
                page = browser.new_page(viewport={"width": 390, "height": 844})   # a phone
                page.on("request", lambda request: requests.append(request.url))
                page.goto(base + link, wait_until="load")
                text = page.inner_text("body")
                assert page.inner_text("h1") == f"评分报告 / Grading report: {student}"
                assert not [s for s in links if s != student and s in text], student
                report = json.loads((example_class / student / "results.json").read_text())
                visible = [t for t in report["tests"] if t.get("visibility") != "hidden" and "tags" in t
                           and t["tags"][1] not in ("late_penalty", "adjustment")]
                assert page.locator("tr").count() - len(names()) == len(visible)   # each table's header row
                page.screenshot(path=str(artifact_dir() / f"published-{student}.png"), full_page=True)
                page.close()
            listing = browser.new_page()
            listing.goto(base, wait_until="load")
            assert not [s for s in links if s in listing.inner_text("body")]   # the root lists nobody
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert {r.split("/", 3)[2] for r in requests} == {base.split("/")[2]}   # nothing fetched from elsewhere


def test_cli_rejects_a_missing_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(tmp_path / "nope"), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_cli_rejects_an_unknown_assignment(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(REPO / "examples" / "submissions"),
                           "--out", str(tmp_path / "o"), "--assignment", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown assignment" in proc.stderr
