"""Judging a student's process_func (prompt, end token, label mask, attention mask, MAX_LENGTH), shared by
the fine-tuning assignments (qwen2_lora, minicpm_deepspeed).

The probe ran process_func in the sandbox on fresh records (the last one longer than MAX_LENGTH);
each assignment says what it expects of a record as (prompt ids, response ids, end id), and these
helpers compare. Measured against the student's own prompt where they can, so a wrong prompt costs
the prompt check only, not the end-token and mask checks too.
"""
from __future__ import annotations

from typing import Callable

from grader.judge.student_data import conforms
from grader.plugin import fail, require
from grader.probes.shapes import ENCODING

# one record's encoding, as the probe records it (tensors become lists)
Expected = Callable[[dict], tuple[list[int], list[int], int]]


def encodings(inspected, fresh_records: list[dict], expected: Expected):
    """([(record, student's encoding, prompt ids, response ids, end id)] for the short records, the long one's row)."""
    got = inspected.value("process_func")
    require(isinstance(got, list) and len(got) == len(fresh_records),
            "process_func 没有为每条记录返回结果。", "process_func did not return one result per record.")
    rows = []
    for record, enc in zip(fresh_records, got):
        require(isinstance(enc, dict), "process_func 应返回字典。", "process_func must return a dict.",
                actual=type(enc).__name__)
        missing = {"input_ids", "attention_mask", "labels"} - set(enc)
        require(not missing, f"process_func 的返回值缺少键：{sorted(missing)}",
                f"process_func's result lacks the keys {sorted(missing)}")
        require(conforms(enc, ENCODING),
                "process_func 返回的 input_ids、attention_mask、labels 应各是一个整数列表（一条记录，不是一批）。",
                "process_func's input_ids, attention_mask and labels must each be one list of integers (one "
                "record, not a batch).")
        rows.append((record, enc, *expected(record)))
    return rows[:-1], rows[-1]


def prompt_len(ids: list[int], response: list[int], expected: int) -> int:
    """Where the student's own prompt ends: just before the last occurrence of the response ids."""
    n = len(response)
    for start in range(len(ids) - n, -1, -1):
        if ids[start:start + n] == response:
            return start
    return expected


def show(tokenizer, ids, start, width=12) -> str:
    """The ids around ``start`` as text; ids no token has (-100, or past the vocabulary) left out."""
    return repr(tokenizer.decode([i for i in ids[max(start - 2, 0):start + width] if 0 <= i < len(tokenizer)]))


def require_exact_prompt(rows, tokenizer) -> None:
    """Each encoding starts with exactly the expected prompt, then the response."""
    for record, enc, prompt, response, _end in rows:
        want, got = prompt + response, enc["input_ids"][:len(prompt) + len(response)]
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            fail(f"记录 {record['instruction'][:20]!r} 的 input_ids 在第 {at} 个 token 处不对：\n"
                 f"期望 {show(tokenizer, want, at)}，得到 {show(tokenizer, got, at)}",
                 f"input_ids differ at token {at} for that record: expected {show(tokenizer, want, at)}, "
                 f"got {show(tokenizer, got, at)}")


def require_label_mask(rows) -> None:
    """labels are -100 over exactly the (student's own) prompt, then the response ids."""
    for _record, enc, prompt, response, _end in rows:
        labels = enc["labels"]
        p = prompt_len(enc["input_ids"], response, len(prompt))
        masked = sum(1 for x in labels if x == -100)
        require(labels[:p] == [-100] * p and masked == p,
                f"提示词有 {p} 个 token，labels 里却有 {masked} 个 -100（位置也要对）。",
                f"The prompt has {p} tokens but labels hold {masked} -100s (they must cover exactly the prompt).")
        require(labels[p:p + len(response)] == response,
                "提示词之后的 labels 应该等于回答的 token ids。", "After the prompt, labels must equal the response's token ids.")


def require_attention_mask(short, long) -> None:
    """The three lists are equally long and attention_mask all ones; a short record's lists hold at
    least its response (an empty encoding is "all ones" too; the prompt is the prompt check's business)."""
    for _record, enc, _prompt, response, _end in short:
        require(len(enc["input_ids"]) > len(response),
                f"input_ids 只有 {len(enc['input_ids'])} 个 token，连回答（{len(response)} 个）都装不下。",
                f"input_ids holds {len(enc['input_ids'])} tokens, not even the response's {len(response)}.")
    for _record, enc, *_ in short + [long]:
        n = len(enc["input_ids"])
        require(len(enc["attention_mask"]) == n and len(enc["labels"]) == n,
                "input_ids、attention_mask、labels 长度不同。", "input_ids, attention_mask and labels differ in length.",
                expected=[n, n, n], actual=[n, len(enc["attention_mask"]), len(enc["labels"])])
        require(all(x == 1 for x in enc["attention_mask"]),
                "attention_mask 里有不是 1 的值。", "attention_mask holds values other than 1.")


MAX_ACCEPTED_LENGTH = 32768   # the longest MAX_LENGTH a student may choose (fresh_text's long record is longer)


def student_max_length(inspected, tutorial: int) -> int:
    """The student's MAX_LENGTH constant (``tutorial``: the value the course uses, for the message)."""
    max_length = inspected.value("constants", dict).get("MAX_LENGTH")
    require(isinstance(max_length, int) and 64 <= max_length <= MAX_ACCEPTED_LENGTH,
            f"train.py 里需要整数 MAX_LENGTH（教程是 {tutorial}）。",
            f"train.py needs an integer MAX_LENGTH (the tutorial uses {tutorial}).", actual=max_length)
    return max_length


def long_record_ids(prompt: list[int], response: list[int], end: int, max_length: int) -> list[int]:
    """The judge's long record, whole; it must be longer than the student's MAX_LENGTH for the
    truncation check to mean anything: when it is not, that is the judge's own fault (an internal
    error, regraded), never the student's."""
    full = prompt + response + [end]
    if len(full) <= max_length:
        raise RuntimeError(f"the judge's long record has {len(full)} tokens, not more than MAX_LENGTH {max_length}")
    return full
