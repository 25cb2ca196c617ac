"""Random text for inputs drawn fresh at grading time, shared by the assignments' checks."""
from __future__ import annotations

import random

WORDS_ZH = ["甄嬛", "皇上", "御花园", "大理寺", "少卿", "葱姜蒜", "小助手", "模型", "微调", "训练", "数据",
            "今天", "天气", "春天", "桃花", "月亮", "读书", "写字", "唱歌", "喝茶", "点心", "宫殿",
            "你好", "谢谢", "明白", "为什么", "怎么", "可以", "喜欢", "不喜欢", "朋友", "学习", "老师"]
WORDS_EN = ["LoRA", "Qwen2", "token", "batch", "epoch", "GPU", "adapter", "hello", "world", "42", "3.14"]
PUNCT = ["，", "。", "？", "！", "、", "：", " ", "\n"]


def sentence(rng: random.Random, n: int) -> str:
    parts = []
    for _ in range(n):
        parts.append(rng.choice(WORDS_ZH if rng.random() < 0.8 else WORDS_EN))
        if rng.random() < 0.3:
            parts.append(rng.choice(PUNCT))
    return "".join(parts)


# instruction records {instruction, input, output}, for the fine-tuning assignments
INSTRUCTIONS = ["请回答：", "用一句话总结下面的内容。", "把下面这句话翻译成英文：", "你觉得{w}怎么样？",
                "{w}是什么意思？", "请写一句关于{w}的话。", "Explain {w} briefly."]


# the long record's words: ~35 000 Qwen2 tokens (~65 000 of the MiniCPM stand-in's), past the largest
# MAX_LENGTH the checks accept (grader.judge.process_func.MAX_ACCEPTED_LENGTH), so whatever length a
# student chose is cut
LONG_WORDS = 21_000


def records(seed: int, count: int = 6) -> list[dict]:
    """`count` short records (some with an input, some without) and one long enough to truncate."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        instruction = rng.choice(INSTRUCTIONS).format(w=rng.choice(WORDS_ZH))
        out.append({"instruction": instruction,
                    "input": sentence(rng, rng.randint(2, 8)) if i % 2 else "",
                    "output": sentence(rng, rng.randint(3, 20))})
    out.append({"instruction": "请讲一个很长的故事。", "input": "", "output": sentence(rng, LONG_WORDS)})
    return out
