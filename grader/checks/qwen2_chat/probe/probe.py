"""Probe for qwen2_chat, run inside the sandbox: drive the student's chatBot.py with Streamlit's AppTest.

Records, as data: the page after each step (title, caption, sidebar sliders, chat input, chat
messages), every `generate` call (prompt ids, the length arguments, the seed we set, the model's
dtype and the output ids) and how many times a model and a tokenizer were loaded.
The judge recomputes each answer itself from the same prompt ids and seed.
"""
import os
import sys
import threading

from _probe_common import AFTER_OURS, Recorder, check_source, probe_main, record_generate, record_loads
from run_clock import RunClock

import torch  # noqa: E402  (before student code, so a shadow module cannot replace it)
import transformers  # noqa: E402,F401  (imported before student code: a shadow module cannot replace it)
from streamlit.testing.v1 import AppTest  # noqa: E402

CLOCK = RunClock()   # the probe's turns count its running, not its wait for a CPU others held


def page(at) -> dict:
    """What a person sees, as data."""
    def texts(elements):
        return [str(e.value) for e in elements]

    return {
        "exception": [str(e.value)[:2000] for e in at.exception],
        "title": texts(at.title),
        "caption": texts(at.caption),
        "sidebar_sliders": [{"label": s.label, "min": s.min, "max": s.max, "value": s.value, "step": s.step}
                            for s in at.sidebar.slider],
        "chat_inputs": len(at.chat_input),
        "messages": [{"role": m.name, "text": "\n".join(texts(m.markdown))} for m in at.chat_message],
    }


def run_step(at, action, timeout):
    """One AppTest run, bounded here too: AppTest's own timeout waits for a script that sleeps.
    ``timeout`` is seconds of running: on a busy machine it waits longer, at the pace the probe has had."""
    outcome = {}
    wait = CLOCK.stretched(timeout)

    def work():
        try:
            action(at).run(timeout=wait)
        except BaseException as exc:  # reported below, in the probe's own thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(wait + 5)
    if worker.is_alive():
        raise TimeoutError(f"页面运行超过 {timeout:.0f} 秒没有结束（卡住了吗？） / "
                           f"the app run timed out after {timeout:.0f} s (does it hang?)")
    if "error" in outcome:
        raise outcome["error"]
    if at.exception:
        raise RuntimeError("\n".join(str(e.value) for e in at.exception)[:3000])
    return page(at)


def chat(rec: Recorder, given: dict) -> None:
    path = check_source("chatBot.py", rec, "source")
    if path is None:
        return
    torch.set_num_threads(1)  # the judge replays generation single-threaded: same arithmetic
    loads, calls = record_loads(), record_generate(given["seeds"])
    os.chdir(path.parent)
    sys.path.insert(AFTER_OURS, str(path.parent))
    at = AppTest.from_file(str(path), default_timeout=given["timeout"])
    timeout = given["timeout"]
    try:
        rec.step("start", run_step, at, lambda at: at, timeout)
        if rec.steps["start"]["ok"]:
            sliders = [s for s in at.sidebar.slider if "max_length" in s.label.lower()]
            if sliders:
                rec.step("slider", run_step, at, lambda at: sliders[0].set_value(given["slider"]), timeout)
            for i, question in enumerate(given["questions"]):
                if not at.chat_input:
                    rec.fail(f"turn{i}", "页面上没有聊天输入框 st.chat_input / there is no st.chat_input on the page")
                    break
                if rec.step(f"turn{i}", run_step, at, lambda at: at.chat_input[0].set_value(question), timeout) is None:
                    break
    finally:
        rec.note("loads", {kind: sum(load["kind"] == kind for load in loads) for kind in ("model", "tokenizer")})
        rec.note("generate_calls", list(calls))


if __name__ == "__main__":
    probe_main({"chat": chat})
