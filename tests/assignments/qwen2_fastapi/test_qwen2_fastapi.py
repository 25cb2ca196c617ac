"""qwen2_fastapi end to end: reference full marks, stub zero, one broken server per check, and
servers that raise, hang while answering or never start listening."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import grade, make_submission

API = "qwen2_fastapi"
FIRST = "    json_post_raw = await request.json()"
LOAD = '''    model_name_or_path = '/root/autodl-tmp/qwen/Qwen2-7B-Instruct'
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, use_fast=False)
    model = AutoModelForCausalLM.from_pretrained(model_name_or_path, device_map="auto", torch_dtype=torch.bfloat16)
'''
TEMPLATE = "    input_ids = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)"
EVERY = {"test_server_answers", "test_loaded_once", "test_each_request_generates", "test_prompt_template",
         "test_history_reaches_prompt", "test_response_is_the_generation"}

# name -> (description, patches of the reference, the checks that must not pass, the checks it exists to
# catch (they fail on their own evidence; the others may be skipped), what the first failure says)
BROKEN = {
    "bare_string": ("returns the bare answer string, not a JSON object", [
        ("api.py", "    return answer  #", "    return response  #")], EVERY, {"test_server_answers"},
        "not a JSON object"),
    "loads_per_request": ("the model is loaded inside the endpoint, for every request", [
        ("api.py", "    # BEGIN SOLUTION\n" + LOAD, "    pass\n"), ("api.py", FIRST, LOAD + FIRST)], {"test_loaded_once"},
        {"test_loaded_once"}, "loaded 3 times"),
    "cached_answer": ("the first answer is kept and returned for every later request", [
        ("api.py", "app = FastAPI()\n", "app = FastAPI()\nCACHE = []\n"),
        ("api.py", FIRST, "    if CACHE:\n        return CACHE[0]\n" + FIRST),
        ("api.py", "    return answer  #", "    CACHE.append(answer)\n    return answer  #")],
        # the history request made no generate call: the history check has nothing to look at
        {"test_each_request_generates", "test_history_reaches_prompt"}, {"test_each_request_generates"}, ""),
    "canned_answer": ("a canned answer, never generated", [
        ("api.py", FIRST, '    return {"response": "您好，我是一个有用的助手。", "status": 200}\n' + FIRST)],
        # no generate call at all: the checks of prompts and answers have nothing to look at
        {"test_each_request_generates", "test_prompt_template", "test_history_reaches_prompt",
         "test_response_is_the_generation"}, {"test_each_request_generates"}, ""),
    "hand_built_prompt": ("the prompt built by hand, without the system turn", [
        ("api.py", TEMPLATE, '''    input_ids = "".join(f"<|im_start|>{m['role']}\\n{m['content']}<|im_end|>\\n" for m in messages[1:])
    input_ids += "<|im_start|>assistant\\n"''')], {"test_prompt_template"}, {"test_prompt_template"}, ""),
    "history_ignored": ("the history is read but never reaches the messages", [
        ("api.py", "    messages += history\n", "")], {"test_history_reaches_prompt"},
        {"test_history_reaches_prompt"}, "lacks (in order)"),
    "not_sliced": ("the answer is not sliced off the prompt", [
        ("api.py", "        output_ids[len(input_ids):] for", "        output_ids for")],
        {"test_response_is_the_generation"}, {"test_response_is_the_generation"}, "slice its tokens off"),
    "special_tokens_kept": ("decoded without skip_special_tokens", [
        ("api.py", "skip_special_tokens=True)[0]", "skip_special_tokens=False)[0]")],
        {"test_response_is_the_generation"}, {"test_response_is_the_generation"}, "Special tokens are left in"),
}

# the coverage of every check (tests/test_broken_coverage.py)
CAUGHT = {name: catches for name, (_d, _p, _lost, catches, _says) in BROKEN.items()}
LOST = {name: lost for name, (_d, _p, lost, _catches, _says) in BROKEN.items()}


def grade_api(tmp_path, name, **kw):
    return grade(make_submission(tmp_path / name, assignment=API, **kw), tmp_path / "out", API)


def summary(checks) -> dict:
    return {n: c.output[:800] for n, c in checks.items() if c.status != "passed"}


def test_reference_scores_full_marks(tmp_path):
    result, checks = grade_api(tmp_path, "ref")
    assert result.score == 100, summary(checks)
    assert set(checks) == EVERY
    adapted = " ".join(result.assignments[0].adaptations)
    assert "'cuda' devices" in adapted and "device_map=" in adapted and "half-precision" in adapted


def test_stub_scores_zero(tmp_path):
    result, checks = grade_api(tmp_path, "stub", base="stub")
    assert result.score == 0, summary(checks)
    assert "implement this step" in checks["test_server_answers"].output
    assert all(c.status == "skipped" for n, c in checks.items() if n != "test_server_answers")
    assert checks["test_server_answers"].status == "failed" and result.max_score == 100   # no grader error


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_server_loses_its_checks(name, tmp_path):
    description, patches, lost, catches, says = BROKEN[name]
    result, checks = grade_api(tmp_path, name, patches=patches)
    assert {n for n, c in checks.items() if c.status != "passed"} == lost, f"{description}: {summary(checks)}"
    assert {n: checks[n].status for n in catches} == dict.fromkeys(catches, "failed"), description
    assert {c.status for c in checks.values()} <= {"passed", "failed", "skipped"}   # no grader error
    assert result.score == 100 - sum(checks[n].max_score for n in lost)
    first = next(c for c in checks.values() if c.status == "failed")   # the root: the others are skipped or agree
    assert says in first.output, f"{description}: {first.output}"


def test_server_that_raises_at_import(tmp_path):
    result, checks = grade_api(tmp_path, "raises", patches=[
        ("api.py", "import torch\n", "import torch\nraise RuntimeError('boom 爆炸')\n")])
    assert result.score == 0
    assert "boom 爆炸" in checks["test_server_answers"].output


def test_endpoint_that_never_answers_fails_within_the_request_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_REQUEST_TIMEOUT_S", "8")
    started = time.monotonic()
    result, checks = grade_api(tmp_path, "hangs", patches=[
        ("api.py", FIRST, "    import time\n    time.sleep(10 ** 6)   # blocks the event loop too\n" + FIRST)])
    assert result.score == 0
    assert "no answer within 8 s" in checks["test_server_answers"].output
    assert time.monotonic() - started < 100   # not the 120 s of the whole run


def test_server_that_never_starts_listening(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SERVE_TIMEOUT_S", "25")
    result, checks = grade_api(tmp_path, "blocks", patches=[
        ("api.py", "    uvicorn.run(app,", "    import time\n    time.sleep(10 ** 6)\n    uvicorn.run(app,")])
    assert result.score == 0
    assert "not listening within 25 s" in checks["test_server_answers"].output


def test_server_that_breaks_after_its_first_answer(tmp_path):
    """A server whose first answer frees the model (del model) fails every later request with HTTP 500:
    what it answered before is still graded, and the student sees the server's own error."""
    result, checks = grade_api(tmp_path, "breaks", patches=[
        ("api.py", "    torch_gc()  #", "    del model   # 释放显存 / free the GPU, and the model with it\n    torch_gc()  #")])
    assert {n for n, c in checks.items() if c.status != "passed"} == {"test_each_request_generates",
                                                                      "test_history_reaches_prompt"}, summary(checks)
    output = checks["test_each_request_generates"].output
    assert "HTTP 500" in output and "NameError" in output, output
    assert checks["test_history_reaches_prompt"].status == "skipped"   # the same root, reported once
    assert result.score == 70


# where there is no network namespace (the container mode, as root in CI) two gradings at once would
# both want the port the code names; with one (bubblewrap) each has its own loopback
@pytest.mark.parametrize("mode", ["container"] if os.geteuid() == 0 else ["bubblewrap-userns"])
def test_two_servers_on_one_fixed_address_and_port_graded_at_once(mode, tmp_path, monkeypatch):
    """The course's fixed address and port (uvicorn.run(app, host='172.17.1.189', port=6006)) in two
    submissions graded at the same moment: both full marks, each served on loopback, and the port
    change, where the mode makes one, listed as an adaptation."""
    monkeypatch.setenv("GRADER_SANDBOX", mode)
    fixed = [("api.py", "uvicorn.run(app, host='0.0.0.0', port=6006, workers=1)",
              "uvicorn.run(app, host='172.17.1.189', port=6006, workers=1)")]
    with ThreadPoolExecutor(2) as pool:
        graded = list(pool.map(lambda name: grade(make_submission(tmp_path / name, assignment=API, patches=fixed),
                                                  tmp_path / f"out-{name}", API), ["first", "second"]))
    for result, checks in graded:
        assert result.score == 100, summary(checks)
        adapted = " ".join(result.assignments[0].adaptations)
        assert "172.17.1.189 is served on loopback" in adapted, adapted
        assert ("the server listens on this grading's own port" in adapted) == (mode == "container"), adapted


def test_a_port_that_cannot_be_bound_is_replaced_by_a_free_one(tmp_path):
    """Port 80 needs privileges the student code never has in the sandbox (uid 65534, no
    capabilities): uvicorn would exit on the bind; the server gets a free port, and the report says so."""
    result, checks = grade_api(tmp_path, "port80", patches=[
        ("api.py", "uvicorn.run(app, host='0.0.0.0', port=6006, workers=1)", "uvicorn.run(app, host='0.0.0.0', port=80)")])
    assert result.score == 100, summary(checks)
    adapted = " ".join(result.assignments[0].adaptations)
    assert "the server listens on" in adapted and "loopback" not in adapted, adapted
