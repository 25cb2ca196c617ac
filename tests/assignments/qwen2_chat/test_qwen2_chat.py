"""qwen2_chat end to end: reference full marks, stub zero, one broken app per check, and apps that
raise, hang while answering or hang while loading."""
from __future__ import annotations

import pytest

from tests.conftest import grade, lost_with, make_submission

CHAT = "qwen2_chat"
CALL = "    response = chat(tokenizer, model, st.session_state.messages, max_length)"

BROKEN_APPS = {
    "test_app_starts": ("no chat input", [
        ("chatBot.py", "if prompt := st.chat_input():", 'if prompt := st.text_input("问题"):')]),
    "test_slider": ("the slider goes to 2048", [
        ("chatBot.py", 'st.slider("max_length", 0, 1024, 512, step=1)', 'st.slider("max_length", 0, 2048, 512, step=1)')]),
    "test_first_answer": ("the answer is not sliced off the prompt", [
        ("chatBot.py", "        output_ids[len(input_ids):] for", "        output_ids for")]),
    "test_history": ("only the last message reaches the model", [
        ("chatBot.py", CALL, CALL.replace("st.session_state.messages,", "st.session_state.messages[-1:],"))]),
    "test_loaded_once": ("no st.cache_resource: the model is loaded on every turn", [
        ("chatBot.py", "@st.cache_resource\n", "")]),
    "test_slider_reaches_generate": ("the tutorial's bug: max_new_tokens=512 ignores the slider", [
        ("chatBot.py", CALL, CALL.replace("max_length)", "512)"))]),
}

# the coverage of every check (tests/test_broken_coverage.py)
CAUGHT = {check: {check} for check in BROKEN_APPS}


def grade_chat(tmp_path, name, **kw):
    return grade(make_submission(tmp_path / name, assignment=CHAT, **kw), tmp_path / "out", CHAT)


def test_reference_chat_scores_full_marks(tmp_path):
    result, checks = grade_chat(tmp_path, "ref")
    assert result.score == 100, {n: c.output for n, c in checks.items() if c.status != "passed"}


def test_chat_stub_scores_zero(tmp_path):
    result, checks = grade_chat(tmp_path, "stub", base="stub")
    assert result.score == 0 and set(checks) == set(BROKEN_APPS)
    assert {c.status for c in checks.values()} <= {"failed", "skipped"} and result.max_score == 100   # no grader error
    assert "implement this step" in checks["test_app_starts"].output


@pytest.mark.parametrize("check", sorted(BROKEN_APPS))
def test_broken_app_loses_only_its_check(check, tmp_path):
    description, patches = BROKEN_APPS[check]
    result, checks = grade_chat(tmp_path, check, patches=patches)
    assert checks[check].status == "failed", f"{description}: {checks[check].output}"
    lost = {n for n, c in checks.items() if c.status != "passed"}
    assert lost == lost_with(check, checks), {n: checks[n].output for n in lost}


def test_app_that_raises_at_import(tmp_path):
    result, checks = grade_chat(tmp_path, "raises", patches=[
        ("chatBot.py", "import streamlit as st\n", "import streamlit as st\nraise RuntimeError('boom 爆炸')\n")])
    assert result.score == 0
    assert "boom 爆炸" in checks["test_app_starts"].output
    assert all(c.status == "skipped" for n, c in checks.items() if n != "test_app_starts")


def test_app_that_never_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_CHAT_TURN_TIMEOUT_S", "8")
    result, checks = grade_chat(tmp_path, "hangs", patches=[
        ("chatBot.py", "    text = tokenizer.apply_chat_template(", "    import time\n    time.sleep(10 ** 6)\n"
                                                                   "    text = tokenizer.apply_chat_template(")])
    # what was recorded before the hang is still graded: the app started, the slider, one model load
    assert {n for n, c in checks.items() if c.status == "passed"} == {"test_app_starts", "test_slider",
                                                                      "test_loaded_once"}
    assert "timed out" in checks["test_first_answer"].output
    # the hang is reported once, on the first answer; what needed the answers waits on it, naming it
    for name in ("test_history", "test_slider_reaches_generate"):
        assert checks[name].status == "skipped" and checks["test_first_answer"].zh in checks[name].output
    assert result.score == 40


def test_an_app_that_forgets_its_own_answers_loses_the_history_check(tmp_path):
    """The answer is shown but never appended to st.session_state.messages: the next turn's prompt
    lacks it (and the page loses it on rerun). Issue 19: it scored full marks."""
    result, checks = grade_chat(tmp_path, "forgets", patches=[
        ("chatBot.py", '    st.session_state.messages.append({"role": "assistant", "content": response})\n', "")])
    assert {n for n, c in checks.items() if c.status != "passed"} == {"test_history"}, \
        {n: c.output for n, c in checks.items() if c.status != "passed"}
    assert "Turn 2" in checks["test_history"].output


def test_app_that_blocks_forever_while_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_CHAT_TURN_TIMEOUT_S", "8")
    result, checks = grade_chat(tmp_path, "blocks", patches=[
        ("chatBot.py", "def get_model():\n", "def get_model():\n    import time\n    time.sleep(10 ** 6)\n")])
    assert result.score == 0
    assert "timed out" in checks["test_app_starts"].output


def test_an_answer_kept_with_a_trailing_newline_is_still_the_whole_conversation(tmp_path):
    """st.markdown strips what it shows, so the page cannot tell "answer\\n" from "answer": an app
    whose history keeps a trailing newline (as sampled answers sometimes end) loses nothing."""
    result, checks = grade_chat(tmp_path, "newline", patches=[("chatBot.py", CALL, CALL + ' + "\\n"')])
    assert result.score == 100, {n: c.output for n, c in checks.items() if c.status != "passed"}
