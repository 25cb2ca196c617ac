"""The judge replays a `generate` call recorded in the sandbox (grader/probes/_probe_common.py,
record_generate) on its own model: the same prompt ids, seed, plain arguments and single thread,
so a student's shown answer can be held to exactly what their generation gives."""
from __future__ import annotations

from grader.plugin import require

DTYPES = {"float32", "bfloat16", "float16"}
REPLAY_KWARGS = {"max_new_tokens", "max_length", "min_new_tokens", "do_sample", "temperature", "top_p",
                 "top_k", "repetition_penalty"}


def checked_call(call) -> dict:
    """The recorded call, or a failure when the record is not what our probe writes."""
    require(isinstance(call, dict) and call.get("dtype") in DTYPES and isinstance(call.get("input_ids"), list)
            and call["input_ids"] and isinstance(call.get("kwargs"), dict) and isinstance(call.get("seed"), int),
            "generate 的调用记录不完整。", "The record of the generate call is incomplete.")
    return call


def replay(call: dict, tokenizer, model) -> str:
    """The text ``model`` generates for the recorded call, prompt sliced off, special tokens skipped."""
    import torch
    kwargs = {k: v for k, v in call["kwargs"].items() if k in REPLAY_KWARGS}
    ids = torch.tensor([call["input_ids"]])
    torch.set_num_threads(1)   # as in the sandbox: the same arithmetic, the same samples
    torch.manual_seed(call["seed"])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
