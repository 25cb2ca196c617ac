"""Instruction records drawn fresh at grading time, and what the judge expects process_func to make."""
from __future__ import annotations

import random

from grader.checks.fresh_text import WORDS_ZH, sentence

QUESTION = "你是谁？"

INSTRUCTIONS = ["请回答：", "用一句话总结下面的内容。", "把下面这句话翻译成英文：", "你觉得{w}怎么样？",
                "{w}是什么意思？", "请写一句关于{w}的话。", "Explain {w} briefly."]


def records(seed: int, count: int = 6) -> list[dict]:
    """`count` short records (some with an input, some without) and one long enough to truncate."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        instruction = rng.choice(INSTRUCTIONS).format(w=rng.choice(WORDS_ZH))
        out.append({"instruction": instruction,
                    "input": sentence(rng, rng.randint(2, 8)) if i % 2 else "",
                    "output": sentence(rng, rng.randint(3, 20))})
    out.append({"instruction": "请讲一个很长的故事。", "input": "", "output": sentence(rng, 400)})
    return out


def chatml_prompt(system: str, user: str) -> str:
    return (f"<|im_start|>system\n{system}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n")


def expected_parts(tokenizer, record: dict, system: str) -> tuple[list[int], list[int], int]:
    """(prompt ids, response ids, end id), tokenized separately as the tutorial does."""
    prompt = tokenizer(chatml_prompt(system, record["instruction"] + record["input"]),
                       add_special_tokens=False)["input_ids"]
    response = tokenizer(record["output"], add_special_tokens=False)["input_ids"]
    return prompt, response, tokenizer.pad_token_id
