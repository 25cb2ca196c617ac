"""Probe for qwen2_chat, run inside the sandbox: drive the student's chatBot.py with Streamlit's AppTest.

Records, as data: the page after each step (title, caption, sidebar sliders, chat input, chat
messages), every `generate` call (prompt ids, the length arguments, the seed we set, the model's
dtype and the output ids) and how many times a model and a tokenizer were loaded.
The judge recomputes each answer itself from the same prompt ids and seed.
"""
import os
import sys
import threading

from _probe_common import Recorder, adapt_to_course, check_source, finish, read_input, record_generate
from notebooks import use_notebooks
from run_clock import RunClock

import torch  # noqa: E402  (before student code, so a shadow module cannot replace it)
import transformers  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

CLOCK = RunClock()   # the probe's turns count its running, not its wait for a CPU others held


def instrument(seeds: list[int]) -> tuple[dict, list]:
    loads = {"model": 0, "tokenizer": 0}
    model_load = transformers.PreTrainedModel.from_pretrained.__func__
    tokenizer_load = transformers.PreTrainedTokenizerBase.from_pretrained.__func__

    def load_model(cls, *a, **k):
        loads["model"] += 1
        return model_load(cls, *a, **k)

    def load_tokenizer(cls, *a, **k):
        loads["tokenizer"] += 1
        return tokenizer_load(cls, *a, **k)

    transformers.PreTrainedModel.from_pretrained = classmethod(load_model)
    transformers.PreTrainedTokenizerBase.from_pretrained = classmethod(load_tokenizer)
    return loads, record_generate(seeds)


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


def main():
    given = read_input()
    rec = Recorder()
    rec.note("started", True)
    use_notebooks(rec, given["notebooks"])   # chatBot.ipynb -> chatBot.py where it is graded
    path = check_source("chatBot.py", rec, "source")
    if path is None:
        return
    torch.set_num_threads(1)  # the judge replays generation single-threaded: same arithmetic
    adapt_to_course(rec)
    loads, calls = instrument(given["seeds"])
    os.chdir(path.parent)
    sys.path.insert(1, str(path.parent))
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
        rec.note("loads", dict(loads))
        rec.note("generate_calls", list(calls))
        finish(rec)


if __name__ == "__main__":
    main()
