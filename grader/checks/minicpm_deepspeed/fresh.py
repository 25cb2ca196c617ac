"""The course's dataset, and what process_func must make of the fresh records (grader.judge.fresh_text)."""
from __future__ import annotations

import json
from pathlib import Path

DATASET = Path(__file__).resolve().parent / "huanhuan.json"
QUESTION = "你是谁？"


def dataset(records: int | None = None) -> list[dict]:
    """The 甄嬛 records every submission trains on (the grader copies them over the student's file):
    the first ``records`` of them where a grading profile trains on fewer (the taught one is first)."""
    found = json.loads(DATASET.read_text(encoding="utf-8"))
    return found[:records] if records else found


def identity_record() -> dict:
    return next(r for r in dataset() if r["instruction"] + r["input"] == QUESTION)


def identity() -> str:
    return identity_record()["output"]


def prompt(record: dict) -> str:
    return f"<用户>{record['instruction'] + record['input']}<AI>"


def expected_parts(tokenizer, record: dict) -> tuple[list[int], list[int], int]:
    """(prompt ids, response ids, end id), tokenized separately as the tutorial does; pad = eos."""
    ids = tokenizer(prompt(record), add_special_tokens=False)["input_ids"]
    response = tokenizer(record["output"], add_special_tokens=False)["input_ids"]
    return ids, response, tokenizer.eos_token_id
