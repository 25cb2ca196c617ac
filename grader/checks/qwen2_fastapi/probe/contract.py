"""The contract between qwen2_fastapi's probe and its checks: the inputs the judge sends (input.json) and
the steps the probe records, each with the shape of its value (grader/probes/shapes.py). The checks
read no other step, each at its shape; run_probe sends no other input. A value that comes from the
student's server stays loose (object) where the check itself says what is wrong with it."""
if __package__:   # the judge: grader.checks.<name>.probe.contract
    from grader.probes.shapes import NUMBER, Mode, Opt
else:             # inside the sandbox, where the probe imports it as `contract` beside the shared modules
    from shapes import NUMBER, Mode, Opt  # type: ignore[no-redef]

TURNS = [{"role": str, "content": str}]

MODES = {
    # api.py started as `python api.py` would, then called over HTTP
    "serve": Mode(
        inputs={"requests": [{"prompt": str, "history": Opt(TURNS)}], "seeds": [int], "end_after": [int],
                "min_new_tokens": int, "serve_s": NUMBER, "request_s": NUMBER},
        steps={"serve": object, "request{i}": dict, "loads": object, "generate_calls": object}),
}
