"""What the judge expects process_func to make of the fresh instruction records (grader.judge.fresh_text)."""
from __future__ import annotations

QUESTION = "你是谁？"


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
