"""End-to-end: the reference Qwen2 chat app, served by real `streamlit run`, used through a real
browser (Debian's chromium driven by Playwright), used the way a person would use it.

Skips only when the browser or Playwright is missing; everything else fails with the server log.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fixtures import fixtures_dir
from grader.profiles import REPO
from tests.browser import CHROMIUM, CHROMIUM_ARGS, artifact_dir

# The only reasons to skip: no browser, or no Playwright. Checked before any server starts.
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"{CHROMIUM} is missing (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not importable")
APP = REPO / "reference" / "qwen2_chat" / "chatBot.py"
QUESTION = "你好，请介绍一下你自己"
GREETING = "有什么可以帮您的？"
START_TIMEOUT_S = 60
ANSWER_TIMEOUT_S = 60
MAX_NEW_TOKENS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log: Path, n: int = 4000) -> str:
    try:
        return "\n--- streamlit log (tail) ---\n" + log.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError as exc:
        return f"\n(no streamlit log: {exc})"


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited early with {proc.returncode}" + _log_tail(log))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit not healthy after {START_TIMEOUT_S} s" + _log_tail(log))


@pytest.fixture
def chat_server(tmp_path):
    """Yield (url, log path) of a running `streamlit run` of the reference app; always stop it."""
    model = fixtures_dir() / "modelscope"
    assert (model / "qwen" / "Qwen2-7B-Instruct" / "config.json").is_file(), \
        f"stand-in model missing under {model}: run `make fixtures`"
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "streamlit.log"
    port = _free_port()
    env = {**os.environ, "MODEL_CACHE_DIR": str(model), "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        # Own process group, so the cleanup also reaches anything streamlit spawns.
        proc = subprocess.Popen(cmd, cwd=APP.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_healthy(proc, port, log)
        yield f"http://127.0.0.1:{port}/", log
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def _wait_or_app_error(page, locator, timeout_s: int, what: str) -> None:
    """Wait for `locator`, but stop at once with the app's traceback if Streamlit shows one."""
    error = page.locator('[data-testid="stException"]')
    sync_api.expect(locator.or_(error).first).to_be_visible(timeout=timeout_s * 1000)
    if error.count():
        raise AssertionError(f"the app raised while {what}:\n{error.first.inner_text()[:3000]}")


def test_reference_chat_in_a_browser(chat_server):
    url, log = chat_server
    expect = sync_api.expect

    with sync_api.sync_playwright() as pw:
        # Debian's chromium, never a downloaded one (no network here).
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                     timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            messages = page.locator('[data-testid="stChatMessage"]')
            try:
                page.goto(url, wait_until="domcontentloaded")
                # The first script run loads the model; the greeting means it finished.
                _wait_or_app_error(page, messages.first, START_TIMEOUT_S, "loading the model")
                expect(messages.first).to_contain_text(GREETING)
                # Move the slider down to MAX_NEW_TOKENS with the keyboard, as a person could: 512
                # sampled tokens take 15-45 s on a busy CPU, 16 take a second or two. Every key
                # press commits at once (no debounce in 1.67), so the question's run sees the value.
                sidebar = page.locator('[data-testid="stSidebar"]')
                slider = sidebar.get_by_role("slider")
                slider.press("Home")
                for _ in range(MAX_NEW_TOKENS):
                    slider.press("ArrowRight")
                expect(slider).to_have_value(str(MAX_NEW_TOKENS))
                box = page.locator('[data-testid="stChatInput"] textarea')
                box.fill(QUESTION)
                box.press("Enter")
                # Sampling from the random stand-in: 3 messages = greeting, question, answer.
                _wait_or_app_error(page, messages.nth(2), ANSWER_TIMEOUT_S, "answering")
                expect(messages).to_have_count(3)
                expect(page.get_by_role("heading", name="💬 Qwen2 Chatbot")).to_be_visible()
                expect(sidebar.get_by_text("max_length", exact=True)).to_be_visible()
                expect(sidebar.locator('[data-testid="stSliderThumbValue"]')).to_have_text(str(MAX_NEW_TOKENS))
                # Who said it: the avatar's testid. What was said: stChatMessageContent only, as
                # the avatar is a Material icon whose ligature name ("face") is in inner_text.
                expect(messages.nth(1).locator('[data-testid="stChatMessageAvatarUser"]')).to_have_count(1)
                expect(messages.nth(2).locator('[data-testid="stChatMessageAvatarAssistant"]')).to_have_count(1)
                content = '[data-testid="stChatMessageContent"]'
                # The bubble arrives before its text (two deltas): wait for the rendered markdown.
                expect(messages.nth(2).locator('[data-testid="stMarkdownContainer"]')).to_have_count(1)
                question = messages.nth(1).locator(content).inner_text().strip()
                answer = messages.nth(2).locator(content).inner_text().strip()
            finally:  # the screenshot is wanted most when something failed; never mask that failure
                try:
                    # Streamlit scrolls inside its own container (stMain), so full_page alone keeps
                    # only the window and the title scrolls away: make the window tall enough first.
                    tall = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')]"
                                         ".map(e => e.scrollHeight))")
                    page.set_viewport_size({"width": 1280, "height": min(max(900, tall + 150), 8000)})
                    page.wait_for_timeout(500)  # let it lay out again
                    shot = page.screenshot(full_page=True, timeout=15_000)
                    (artifact_dir() / "chat_reference.png").write_bytes(shot)
                    Path("/tmp/chat_reference.png").write_bytes(shot)
                except Exception as exc:
                    print(f"screenshot failed: {exc}", file=sys.stderr)
        except Exception as exc:  # playwright timeouts etc.: say what the server said
            kind = "" if isinstance(exc, AssertionError) else f"{type(exc).__name__}: "
            raise AssertionError(f"{kind}{exc}" + _log_tail(log)) from exc
        finally:
            browser.close()

    assert question == QUESTION, f"second message is {question!r}" + _log_tail(log)
    assert answer, "the assistant's answer is empty" + _log_tail(log)
    # The answer must be only the new tokens, with no echo of the chat template or of the question.
    # Not bare "system"/"assistant": each is one token of the stand-in's 1539-token vocabulary and
    # turns up in its random answers all the time; the multi-token markers below never do by chance.
    for marker in ("<|im_start|>", "<|im_end|>", "You are a helpful assistant", QUESTION):
        assert marker not in answer, f"answer leaks the prompt ({marker!r}): {answer[:500]!r}"
