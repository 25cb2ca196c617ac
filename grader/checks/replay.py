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


def replay(call: dict, tokenizer, evaluator, adapter=None) -> str:
    """The text the judge's model (with ``adapter``, if given) generates for the recorded call: its
    dtype, seed and arguments on one thread, as in the sandbox; prompt sliced off, special tokens skipped."""
    kwargs = {k: v for k, v in call["kwargs"].items() if k in REPLAY_KWARGS}
    new = evaluator.generate(call["input_ids"], kwargs, adapter=adapter, dtype=call["dtype"], seed=call["seed"])
    return tokenizer.decode(new, skip_special_tokens=True)
