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
