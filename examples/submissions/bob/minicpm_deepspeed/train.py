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
    # BEGIN SOLUTION
    tokenizer = AutoTokenizer.from_pretrained(model_path, use_fast=False, trust_remote_code=True)
    tokenizer.padding_side = "left"  # 和推理时一样在左侧填充 / as for generation
    tokenizer.pad_token_id = tokenizer.eos_token_id
    return tokenizer
    # END SOLUTION


def process_func(example: dict, tokenizer) -> dict:
    """把一条记录编码成 input_ids / attention_mask / labels。

    Encode one record as input_ids / attention_mask / labels:
    - the prompt is `<用户>{instruction + input}<AI>`, tokenized with add_special_tokens=False;
    - input_ids = prompt ids + response ids + [tokenizer.pad_token_id] (pad = eos: the end token);
    - labels = -100 for every prompt token, then the response ids and the end token;
    - attention_mask is all ones; everything is cut to MAX_LENGTH.
    """
    # BEGIN SOLUTION
    instruction = tokenizer(f"<用户>{example['instruction'] + example['input']}<AI>", add_special_tokens=False)
    response = tokenizer(f"{example['output']}", add_special_tokens=False)
    input_ids = instruction["input_ids"] + response["input_ids"] + [tokenizer.pad_token_id]
    attention_mask = instruction["attention_mask"] + response["attention_mask"] + [1]  # eos 也要关注 / attend to eos
    labels = [-100] * len(instruction["input_ids"]) + response["input_ids"] + [tokenizer.pad_token_id]
    if len(input_ids) > MAX_LENGTH:  # 截断 / truncate
        input_ids = input_ids[:MAX_LENGTH]
        attention_mask = attention_mask[:MAX_LENGTH]
        labels = labels[:MAX_LENGTH]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    # END SOLUTION


def build_lora_config() -> LoraConfig:
    """教程的 LoraConfig：CAUSAL_LM，q/k/v/o 四个投影，r=8，lora_alpha=32，lora_dropout=0.1，训练模式。

    The tutorial's LoraConfig: CAUSAL_LM, the q/k/v/o projections, r=8, alpha 32, dropout 0.1, training mode.
    """
    # BEGIN SOLUTION
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        inference_mode=False,  # 训练模式 / training mode
        r=8,  # Lora 秩 / rank
        lora_alpha=32,
        lora_dropout=0.1,
    )
    # END SOLUTION


def main() -> None:
    """解析参数、编码数据、加载模型（可选 LoRA）、用 DeepSpeed 训练并保存到 output_dir。

    Parse the arguments, encode the records, load the model (LoRA if asked), train with DeepSpeed
    (TrainingArguments' --deepspeed) and save the result in output_dir with trainer.save_model().
    """
    # BEGIN SOLUTION
    finetune_args, training_args = HfArgumentParser((FinetuneArguments, TrainingArguments)).parse_args_into_dataclasses()
    tokenizer = build_tokenizer(finetune_args.model_path)
    df = pd.read_json("./huanhuan.json")
    ds = Dataset.from_pandas(df)
    tokenized_id = ds.map(lambda example: process_func(example, tokenizer), remove_columns=ds.column_names)

    # 半精度加载；每个进程放到自己的设备上 / half precision, each rank on its own device
    model = AutoModelForCausalLM.from_pretrained(finetune_args.model_path, trust_remote_code=True,
                                                 torch_dtype=torch.half,
                                                 device_map={"": int(os.environ.get("LOCAL_RANK") or 0)})
    if finetune_args.use_lora:
        model = get_peft_model(model, build_lora_config())
        model.print_trainable_parameters()

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=tokenized_id,
        data_collator=DataCollatorForSeq2Seq(tokenizer=tokenizer, padding=True),
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)  # LoRA: adapter；全量 / full: model.safetensors
    # END SOLUTION


if __name__ == "__main__":
    main()
