"""Reports as a person sees them: a student's report and the class dashboard opened in headless
Chromium, checked on the rendered page, and saved as screenshots (reports/artifacts/)."""
from __future__ import annotations

import os
import random

import pytest

from grader.report import render_class, render_submission
from grader.results import AssignmentResult, CheckResult, SubmissionResult
from tests.browser import CHROMIUM, CHROMIUM_ARGS, artifact_dir

CHECKS = [  # (name, en, zh, points)
    ("test_records", "The instruction records teach an answer to 你是谁？", "指令数据教会模型回答“你是谁？”", 10),
    ("test_prompt_ids", "process_func builds the exact ChatML prompt", "process_func 构造出准确的 ChatML 提示词", 10),
    ("test_label_mask", "labels are -100 over exactly the prompt", "labels 恰好在提示词部分为 -100", 10),
    ("test_lora_targets", "LoraConfig targets the seven projections", "LoraConfig 作用于七个投影层", 5),
    ("test_training_loss_falls", "A short real training run makes the loss fall", "真实训练一小段，损失下降", 10),
    ("test_judge_answer", "Base model + your adapter answers 你是谁？", "基座模型加 adapter 回答“你是谁？”", 15),
]
HIDDEN = "test_judge_answer"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not importable")


def student(name: str, rng: random.Random, late: bool = False) -> SubmissionResult:
    checks = []
    for check, en, zh, points in CHECKS:
        ok = rng.random() < 0.7
        checks.append(CheckResult("qwen2_lora", check, en, zh, points if ok else 0, points,
                                  "passed" if ok else "failed",
                                  output="" if ok else "期望 / expected [151644, 8948] 得到 / got [151644]",
                                  hint_en="Read the tutorial's process_func.", hint_zh="对照教程的 process_func。",
                                  visibility="hidden" if check == HIDDEN else "visible"))
    a = AssignmentResult("qwen2_lora", checks)
    if late:
        a.late_days, a.penalty = 2, 6.0
    return SubmissionResult(student=name, assignments=[a], profile="cpu", profile_description="CPU 小替身模型",
                            sandbox="bubblewrap: no network, uid 65534 / bubblewrap 沙箱", limits="memory 8 GiB",
                            grader_version="0.1.0", graded_at="2026-11-24T12:00:00+00:00", execution_time=31)


def test_student_report_and_class_dashboard_in_a_browser(tmp_path):
    rng = random.Random(7)
    names = ["张伟", "王芳", "li_na", "alice", "bob", "carol", "dave", "刘洋", "eve", "frank", "grace", "黄磊"]
    results = [student(n, rng, late=(n == "bob")) for n in names]
    for r in results:
        (tmp_path / r.student).mkdir()
        render_submission(r, tmp_path / r.student / "report.html")
    render_class(results, tmp_path / "index.html")
    shots = artifact_dir()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto((tmp_path / "bob" / "report.html").as_uri())
            text = page.inner_text("body")
            assert "评分报告 / Grading report: bob" in text
            assert "process_func 构造出准确的 ChatML 提示词" in text and "process_func builds" in text
            assert "基座模型加 adapter" not in text and HIDDEN not in page.content()   # hidden stays hidden
            assert "1 more check(s) (15 points) are not shown yet" in text
            assert "2 day(s) late: −6 points" in text
            page.screenshot(path=str(shots / "report_student.png"), full_page=True)

            page.goto((tmp_path / "index.html").as_uri())
            text = page.inner_text("body")
            assert "班级成绩 / Class results" in text and "12 份提交 / submissions" in text
            assert page.locator("svg.histogram rect").count() == 10
            assert sum(int(t) for t in page.locator("svg.histogram text").all_text_contents() if t.isdigit()) == 12
            rows = page.locator("table").nth(0).locator("tr")
            assert rows.count() == len(CHECKS) + 1                   # the pass-rate table, header + checks
            page.locator("a", has_text="张伟").click()               # a link to each report works
            assert "评分报告 / Grading report: 张伟" in page.inner_text("body")
            page.go_back()
            page.screenshot(path=str(shots / "class_dashboard.png"), full_page=True)
        finally:
            browser.close()


def test_similarity_report_in_a_browser(tmp_path):
    """The planted copy of tests/test_similarity.py as course staff see it: flagged pairs first, the
    shared passages marked side by side, reachable from the class dashboard."""
    from grader.similarity import write_report
    from tests.test_similarity import _class

    root = _class(tmp_path)
    out = tmp_path / "reports"
    out.mkdir()
    write_report(sorted(root.iterdir()), out, ("qwen2_lora",))
    render_class([student("wang", random.Random(1))], out / "index.html", similarity=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto((out / "index.html").as_uri())
            page.locator("a", has_text="similarity report").click()
            assert "相似度报告 / Similarity report" in page.inner_text("h1")
            rows = page.locator("table").nth(0).locator("tr")
            assert "chen — zhou" in rows.nth(1).inner_text() and "li — wang" in rows.nth(2).inner_text()
            assert page.locator("tr.flagged").count() == 2
            page.locator("a", has_text="li — wang").click()
            marked = page.locator("div.side").first.locator("mark")
            assert marked.count() >= 2 and marked.first.is_visible()
            page.screenshot(path=str(artifact_dir() / "similarity_report.png"), full_page=True)
        finally:
            browser.close()
