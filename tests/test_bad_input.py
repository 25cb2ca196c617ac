"""Bad input gets a clear bilingual message naming the file and the fix; the rest is still graded."""
from __future__ import annotations

from tests.conftest import grade, make_submission


def test_syntax_error_names_file_and_line(tmp_path):
    sub = make_submission(tmp_path / "syntax", patches=[("train.py", "def build_records() -> list:",
                                                          "def build_records( -> list:")])
    result, checks = grade(sub, tmp_path / "out")
    assert result.score == 0
    message = checks["test_records"].output
    assert "train.py" in message and "语法错误" in message and "syntax error" in message and "line" in message


def test_missing_infer_file_costs_only_its_check(tmp_path):
    sub = make_submission(tmp_path / "noinfer", drop=["qwen2_lora/infer.py"])
    result, checks = grade(sub, tmp_path / "out")
    assert {n for n, c in checks.items() if c.status != "passed"} == {"test_student_answer"}
    assert "infer.py" in checks["test_student_answer"].output and "缺少文件" in checks["test_student_answer"].output
    assert result.score == 90


def test_missing_assignment_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    result, checks = grade(tmp_path / "empty", tmp_path / "out")
    assert result.score == 0 and len(checks) == 13
    assert "qwen2_lora/" in result.assignments[0].error
    assert "qwen2_lora/" in checks["test_records"].output and "missing" in checks["test_records"].output


def test_non_utf8_source(tmp_path):
    sub = make_submission(tmp_path / "gbk")
    path = sub / "qwen2_lora" / "train.py"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk", errors="replace"))
    result, checks = grade(sub, tmp_path / "out")
    assert result.score == 0
    message = checks["test_records"].output
    assert "train.py" in message and "UTF-8" in message
