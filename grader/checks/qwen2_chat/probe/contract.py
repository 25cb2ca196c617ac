"""The contract between qwen2_chat's probe and its checks: the inputs the judge sends (input.json) and
the steps the probe records, each with the shape of its value (grader/probes/shapes.py). The checks
read no other step, each at its shape; run_probe sends no other input."""
if __package__:   # the judge: grader.checks.<name>.probe.contract
    from grader.probes.shapes import GENERATE_CALLS, NUMBER, Mode
else:             # inside the sandbox, where the probe imports it as `contract` beside the shared modules
    from shapes import GENERATE_CALLS, NUMBER, Mode  # type: ignore[no-redef]

MESSAGES = [{"role": str, "text": str}]
# the page after a step: what the probe records of it
PAGE = {"title": [str], "chat_inputs": int, "messages": MESSAGES,
        "sidebar_sliders": [{"label": str, "min": NUMBER, "max": NUMBER, "value": NUMBER}]}

MODES = {
    # chatBot.py driven by Streamlit's AppTest: start, set the slider, ask the questions
    "chat": Mode(
        inputs={"questions": [str], "slider": int, "seeds": [int], "timeout": NUMBER},
        steps={"source": object, "start": PAGE, "slider": object, "turn{i}": {"messages": MESSAGES},
               "loads": {"model": int, "tokenizer": int}, "generate_calls": GENERATE_CALLS}),
}
