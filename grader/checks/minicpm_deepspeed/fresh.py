"""The course's dataset, and what process_func must make of the fresh records (grader.judge.fresh_text)."""
from __future__ import annotations

import json
from pathlib import Path

DATASET = Path(__file__).resolve().parent / "huanhuan.json"
QUESTION = "你是谁？"


def dataset(records: int | None = None) -> list[dict]:
    """The 甄嬛 records every submission trains on (the grader copies them over the student's file).
    Where a grading profile trains on fewer, ``records`` of them: the taught one and the shortest others,
    in the file's order (a batch is padded to its longest record, so two long ones would triple the
    tokens of every step: benchmarks/answer_margin.py measures the size)."""
    found = json.loads(DATASET.read_text(encoding="utf-8"))
    if not records or records >= len(found):
        return found
    size = [0 if _asks(r) else len(r["instruction"] + r["input"] + r["output"]) for r in found]
    kept = sorted(sorted(range(len(found)), key=lambda i: (size[i], i))[:records])
    return [found[i] for i in kept]


def _asks(record: dict) -> bool:
    return record["instruction"] + record["input"] == QUESTION


def identity_record() -> dict:
    return next(r for r in dataset() if _asks(r))


def identity() -> str:
    return identity_record()["output"]


def prompt(record: dict) -> str:
    return f"<用户>{record['instruction'] + record['input']}<AI>"


def expected_parts(tokenizer, record: dict) -> tuple[list[int], list[int], int]:
    """(prompt ids, response ids, end id), tokenized separately as the tutorial does; pad = eos."""
    ids = tokenizer(prompt(record), add_special_tokens=False)["input_ids"]
    response = tokenizer(record["output"], add_special_tokens=False)["input_ids"]
    return ids, response, tokenizer.eos_token_id
