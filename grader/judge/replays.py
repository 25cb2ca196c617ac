"""The judge replays a `generate` call recorded in the sandbox (grader/probes/_probe_common.py,
record_generate) on its own model: the same prompt ids, seed, plain arguments and single thread,
so a student's shown answer can be held to exactly what their generation gives.

The record is student data (the code could write any result.json): every value is checked against
the judge's bounds before the judge computes with it, and one out of bounds fails the check that
needed it, never the judge (an id past the vocabulary would raise in the embedding, a length of a
billion would hold the judge)."""
from __future__ import annotations

import math

from grader.judge.student_data import NUMBER, conforms
from grader.plugin import require
from grader.probes.shapes import GENERATE_CALLS

DTYPES = {"float32", "bfloat16", "float16"}
REPLAY_KWARGS = {"max_new_tokens", "max_length", "min_new_tokens", "do_sample", "temperature", "top_p",
                 "top_k", "repetition_penalty"}
# the judge's bounds on one replay, far past the course's (a 512-token answer to a short chat)
MAX_PROMPT_TOKENS = 8192
MAX_NEW_TOKENS = 2048
MAX_SEED = 2 ** 64 - 1   # torch.manual_seed's range
# the shape of the probe's list of recorded calls; checked_call checks each call's values
CALLS = GENERATE_CALLS   # the shape of the probes' record of generate calls
INCOMPLETE = ("generate 的调用记录不完整。", "The record of the generate call is incomplete.")


def _int(value) -> bool:
    return conforms(value, int)


def _number(value, low: float, high: float) -> bool:
    return conforms(value, NUMBER) and math.isfinite(value) and low <= value <= high


def _token_ids(ids, vocabulary: int, most: int) -> bool:
    return isinstance(ids, list) and 0 < len(ids) <= most and all(_int(t) and 0 <= t < vocabulary for t in ids)


def checked_call(call, tokenizer) -> dict:
    """The recorded call, or the check's failure when the record is not what our probe writes or
    holds a value past the judge's bounds (ids outside ``tokenizer``'s vocabulary, lengths past
    MAX_PROMPT_TOKENS / MAX_NEW_TOKENS, arguments generate would refuse)."""
    require(isinstance(call, dict) and call.get("dtype") in DTYPES and isinstance(call.get("kwargs"), dict)
            and _int(call.get("seed")) and 0 <= call["seed"] <= MAX_SEED, *INCOMPLETE)
    vocabulary = len(tokenizer)
    require(_token_ids(call.get("input_ids"), vocabulary, MAX_PROMPT_TOKENS),
            f"generate 调用记录中的提示词 token 不合法（需为 1 到 {MAX_PROMPT_TOKENS} 个、词表范围内的 id）。",
            f"The prompt ids in the record of the generate call are not valid (1 to {MAX_PROMPT_TOKENS} ids "
            f"within the vocabulary).")
    if "output_ids" in call:
        require(_token_ids(call["output_ids"], vocabulary, MAX_PROMPT_TOKENS + MAX_NEW_TOKENS),
                "generate 调用记录中的输出 token 不合法。", "The output ids in the record of the generate call are not valid.")
    prompt, kwargs = len(call["input_ids"]), call["kwargs"]
    bounds = {"max_new_tokens": lambda v: _int(v) and 0 <= v <= MAX_NEW_TOKENS,
              "min_new_tokens": lambda v: _int(v) and 0 <= v <= MAX_NEW_TOKENS,
              "max_length": lambda v: _int(v) and 0 <= v <= prompt + MAX_NEW_TOKENS,
              "do_sample": lambda v: isinstance(v, bool),
              "temperature": lambda v: _number(v, 1e-6, 100),
              "top_p": lambda v: _number(v, 1e-6, 1),
              "top_k": lambda v: _int(v) and 0 <= v <= vocabulary,
              "repetition_penalty": lambda v: _number(v, 1e-6, 100)}
    for name, ok in bounds.items():
        if name in kwargs:
            require(ok(kwargs[name]),
                    f"generate 的参数 {name}={kwargs[name]!r} 超出评分器可重放的范围（最多生成 {MAX_NEW_TOKENS} 个新 token）。",
                    f"generate's {name}={kwargs[name]!r} is past what the judge replays (at most {MAX_NEW_TOKENS} "
                    f"new tokens).")
    return call


def replay_ids(call: dict, evaluator, adapter=None) -> list[int]:
    """The new token ids the judge's model (with ``adapter``, if given) generates for the recorded
    call: its dtype, seed and arguments on one thread, as in the sandbox."""
    kwargs = {k: v for k, v in call["kwargs"].items() if k in REPLAY_KWARGS}
    return evaluator.generate(call["input_ids"], kwargs, adapter=adapter, dtype=call["dtype"], seed=call["seed"])


def replay(call: dict, tokenizer, evaluator, adapter=None) -> str:
    """The text of replay_ids: prompt sliced off, special tokens skipped."""
    return tokenizer.decode(replay_ids(call, evaluator, adapter), skip_special_tokens=True)
