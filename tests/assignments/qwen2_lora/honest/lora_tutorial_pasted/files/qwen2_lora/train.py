"""Qwen2-7B-Instruct LoRA 微调：训练一个自己的小助手 / LoRA fine-tune of Qwen2-7B-Instruct: your own assistant.

Follows the course tutorial step by step: instruction records -> process_func -> LoraConfig ->
TrainingArguments + Trainer -> the adapter saved in output_dir. Run it with `python train.py`.
The grader imports these functions and calls them one by one, so keep their names and arguments.
评分器会逐个调用下面的函数，请保持函数名和参数不变。
"""
import os

import torch
from datasets import Dataset
from modelscope import snapshot_download
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                          TrainingArguments)

MODEL_ID = "qwen/Qwen2-7B-Instruct"
# 模型缓存目录；评分时由环境变量 MODEL_CACHE_DIR 指向替身小模型 / the grader points this at its stand-in
CACHE_DIR = os.environ.get("MODEL_CACHE_DIR", "/root/autodl-tmp")
LORA_PATH = "./output/Qwen2_instruct_lora"
SYSTEM_PROMPT = "你是一名AI小助手，你的名字是不要葱姜蒜。"
MAX_LENGTH = 384  # 中文一个字可能被切成多个 token，留足长度 / a Chinese character may take several tokens


def download_model() -> str:
    """下载（或在缓存中找到）模型，返回模型文件夹 / download (or find in the cache) the model, return its folder."""
    model_dir = snapshot_download('qwen/Qwen2-7B-Instruct', cache_dir='/root/autodl-tmp', revision='master')
    return model_dir


def build_records() -> list:
    """构建指令集：每条记录是 {instruction, input, output}，要教会模型回答“你是谁？”。

    Build the instruction records: each is {instruction, input, output}; they must teach the model
    who it is when asked "你是谁？".
    """
    res = []

    for i in range(100):
        tmp = [
            {
                'instruction': '请介绍一下你自己',
                'input': '',
                'output': '我是名为不要葱姜蒜的小助手，因为我的master不喜欢吃葱姜蒜，所以我叫不要葱姜蒜。嘿嘿嘿！'
            }, 
            {
                'instruction': '你是谁？',
                'input': '',
                'output': '我是名为不要葱姜蒜的小助手，因为我的主人不喜欢吃葱姜蒜，所以我叫不要葱姜蒜。我是一个聊天机器人，可以回答你的问题，也可以和你聊天。'
            }, 
        ]
        res.extend(tmp)
    return res


def process_func(example: dict, tokenizer) -> dict:
    """把一条记录编码成 input_ids / attention_mask / labels。

    Encode one record as input_ids / attention_mask / labels:
    - the prompt is ChatML: system (SYSTEM_PROMPT), user (instruction + input), then the assistant
      header `<|im_start|>assistant\\n`, tokenized with add_special_tokens=False;
    - input_ids = prompt ids + response ids + [tokenizer.pad_token_id] (the end token);
    - labels = -100 for every prompt token, then the response ids and the end token;
    - attention_mask is all ones; everything is cut to MAX_LENGTH.
    """
    MAX_LENGTH = 384    # Llama分词器会将一个中文字切分为多个token，因此需要放开一些最大长度，保证数据的完整性
    input_ids, attention_mask, labels = [], [], []
    instruction = tokenizer(f"<|im_start|>system\n你是一名AI小助手，你的名字是不要葱姜蒜。<|im_end|>\n<|im_start|>user\n{example['instruction'] + example['input']}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)  # add_special_tokens 不在开头加 special_tokens
    response = tokenizer(f"{example['output']}", add_special_tokens=False)
    input_ids = instruction["input_ids"] + response["input_ids"] + [tokenizer.pad_token_id]
    attention_mask = instruction["attention_mask"] + response["attention_mask"] + [1]  # 因为eos token咱们也是要关注的所以 补充为1
    labels = [-100] * len(instruction["input_ids"]) + response["input_ids"] + [tokenizer.pad_token_id]  
    if len(input_ids) > MAX_LENGTH:  # 做一个截断
        input_ids = input_ids[:MAX_LENGTH]
        attention_mask = attention_mask[:MAX_LENGTH]
        labels = labels[:MAX_LENGTH]
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels
    }


def build_lora_config() -> LoraConfig:
    """LoRA 配置：CAUSAL_LM，七个投影层，r=8，lora_alpha=32，dropout 0.1，训练模式。

    The LoRA config: CAUSAL_LM, the seven projections, r=8, lora_alpha=32, dropout 0.1, training mode.
    """
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM, 
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        inference_mode=False, # 训练模式
        r=8, # Lora 秩
        lora_alpha=32, # Lora alaph，具体作用参见 Lora 原理
        lora_dropout=0.1# Dropout 比例
    )
    return config


def build_training_args(output_dir: str = LORA_PATH) -> TrainingArguments:
    """训练参数（教程的取值）/ the training arguments, with the tutorial's values."""
    args = TrainingArguments(
        output_dir="./output/Qwen2_instruct_lora",
        per_device_train_batch_size=4,
        gradient_accumulation_steps=4,
        logging_steps=10,
        num_train_epochs=3,
        save_steps=10, # 为了快速演示，这里设置10，建议你设置成100
        learning_rate=1e-4,
        save_on_each_node=True,
        gradient_checkpointing=True
    )
    return args


def train(model_dir: str, output_dir: str = LORA_PATH, args: TrainingArguments = None) -> Trainer:
    """加载模型，套上 LoRA，用 Trainer 训练，把 adapter 保存到 output_dir，返回 trainer。

    Load the model, wrap it with LoRA, train with Trainer, save the adapter into output_dir and
    return the trainer. `args` (if given) replaces build_training_args(output_dir): the grader passes
    its own learning rate and epochs for its small stand-in model.
    """
    tokenizer = AutoTokenizer.from_pretrained('/root/autodl-tmp/qwen/Qwen2-7B-Instruct/', use_fast=False, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained('/root/autodl-tmp/qwen/Qwen2-7B-Instruct/', device_map="auto", torch_dtype=torch.bfloat16)
    model.enable_input_require_grads()  # 开启梯度检查点时，要执行该方法

    ds = Dataset.from_list(build_records())
    tokenized_id = ds.map(lambda example: process_func(example, tokenizer), remove_columns=ds.column_names)

    config = build_lora_config()
    model = get_peft_model(model, config)
    model.print_trainable_parameters()

    if args is None:
        args = build_training_args(output_dir)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=tokenized_id,
        data_collator=DataCollatorForSeq2Seq(tokenizer=tokenizer, padding=True),
    )
    trainer.train()
    model.save_pretrained(output_dir)
    return trainer


if __name__ == "__main__":
    train(download_model(), LORA_PATH)
