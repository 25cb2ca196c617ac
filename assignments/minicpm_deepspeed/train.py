"""MiniCPM-2B 全量 / LoRA 微调，DeepSpeed ZeRO-2 + CPU offload / MiniCPM-2B full or LoRA fine-tune with DeepSpeed.

Follows the course tutorial "MiniCPM-2B-chat transformers 部署调用": the 甄嬛 instruction records
in huanhuan.json -> process_func -> Trainer with deepspeed=ds_config.json, started by train.sh
through the `deepspeed` launcher. The grader imports build_tokenizer and process_func and calls
them, and runs train.sh for LoRA and for full training: keep their names and arguments.
评分器会调用 build_tokenizer 和 process_func，并运行 train.sh（LoRA 与全量各一次），请保持名字和参数不变。
"""
import os
from dataclasses import dataclass, field

import pandas as pd
import torch
from datasets import Dataset
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, HfArgumentParser,
                          Trainer, TrainingArguments)

MAX_LENGTH = 512  # Llama 分词器会把一个中文字切成多个 token，放开一些长度 / room for Chinese text


@dataclass
class FinetuneArguments:
    """train.py 自己的参数（HfArgumentParser 解析）/ train.py's own arguments (parsed by HfArgumentParser)."""
    model_path: str = field(default="/root/autodl-tmp/OpenBMB/MiniCPM-2B-sft-fp32")
    use_lora: bool = field(default=False)   # --use_lora True：LoRA 训练 / LoRA instead of full training


def build_tokenizer(model_path: str):
    """加载分词器：use_fast=False，trust_remote_code=True，右侧填充，pad = eos。

    Load the tokenizer: use_fast=False, trust_remote_code=True, padding on the right, pad = eos.
    """
    # TODO(学生 / student): 完成 build_tokenizer，见上面的说明 / implement build_tokenizer as described above
    raise NotImplementedError("请完成 build_tokenizer / implement build_tokenizer")


def process_func(example: dict, tokenizer) -> dict:
    """把一条记录编码成 input_ids / attention_mask / labels。

    Encode one record as input_ids / attention_mask / labels:
    - the prompt is `<用户>{instruction + input}<AI>`, tokenized with add_special_tokens=False;
    - input_ids = prompt ids + response ids + [tokenizer.pad_token_id] (pad = eos: the end token);
    - labels = -100 for every prompt token, then the response ids and the end token;
    - attention_mask is all ones; everything is cut to MAX_LENGTH.
    """
    # TODO(学生 / student): 完成 process_func，见上面的说明 / implement process_func as described above
    raise NotImplementedError("请完成 process_func / implement process_func")


def build_lora_config() -> LoraConfig:
    """教程的 LoraConfig：CAUSAL_LM，q/k/v/o 四个投影，r=8，lora_alpha=32，lora_dropout=0.1，训练模式。

    The tutorial's LoraConfig: CAUSAL_LM, the q/k/v/o projections, r=8, alpha 32, dropout 0.1, training mode.
    """
    # TODO(学生 / student): 完成 build_lora_config，见上面的说明 / implement build_lora_config as described above
    raise NotImplementedError("请完成 build_lora_config / implement build_lora_config")


def main() -> None:
    """解析参数、编码数据、加载模型（可选 LoRA）、用 DeepSpeed 训练并保存到 output_dir。

    Parse the arguments, encode the records, load the model (LoRA if asked), train with DeepSpeed
    (TrainingArguments' --deepspeed) and save the result in output_dir with trainer.save_model().
    """
    # TODO(学生 / student): 完成 main，见上面的说明 / implement main as described above
    raise NotImplementedError("请完成 main / implement main")


if __name__ == "__main__":
    main()
