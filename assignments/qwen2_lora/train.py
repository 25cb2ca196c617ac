"""Qwen2-7B-Instruct LoRA 微调：训练一个自己的小助手 / LoRA fine-tune of Qwen2-7B-Instruct: your own assistant.

Follows the course tutorial step by step: instruction records -> process_func -> LoraConfig ->
TrainingArguments + Trainer -> the adapter saved in output_dir. Run it with `python train.py`.
The grader imports these functions and calls them one by one, so keep their names and arguments.
评分器会逐个调用下面的函数，请保持函数名和参数不变。
"""
import os

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
    return snapshot_download(MODEL_ID, cache_dir=CACHE_DIR, revision="master")


def build_records() -> list:
    """构建指令集：每条记录是 {instruction, input, output}，要教会模型回答“你是谁？”。

    Build the instruction records: each is {instruction, input, output}; they must teach the model
    who it is when asked "你是谁？".
    """
    # TODO(学生 / student): 完成 build_records，见上面的说明 / implement build_records as described above
    raise NotImplementedError("请完成 build_records / implement build_records")


def process_func(example: dict, tokenizer) -> dict:
    """把一条记录编码成 input_ids / attention_mask / labels。

    Encode one record as input_ids / attention_mask / labels:
    - the prompt is ChatML: system (SYSTEM_PROMPT), user (instruction + input), then the assistant
      header `<|im_start|>assistant\\n`, tokenized with add_special_tokens=False;
    - input_ids = prompt ids + response ids + [tokenizer.pad_token_id] (the end token);
    - labels = -100 for every prompt token, then the response ids and the end token;
    - attention_mask is all ones; everything is cut to MAX_LENGTH.
    """
    # TODO(学生 / student): 完成 process_func，见上面的说明 / implement process_func as described above
    raise NotImplementedError("请完成 process_func / implement process_func")


def build_lora_config() -> LoraConfig:
    """LoRA 配置：CAUSAL_LM，七个投影层，r=8，lora_alpha=32，dropout 0.1，训练模式。

    The LoRA config: CAUSAL_LM, the seven projections, r=8, lora_alpha=32, dropout 0.1, training mode.
    """
    # TODO(学生 / student): 完成 build_lora_config，见上面的说明 / implement build_lora_config as described above
    raise NotImplementedError("请完成 build_lora_config / implement build_lora_config")


def build_training_args(output_dir: str = LORA_PATH) -> TrainingArguments:
    """训练参数（教程的取值）/ the training arguments, with the tutorial's values."""
    # TODO(学生 / student): 完成 build_training_args，见上面的说明 / implement build_training_args as described above
    raise NotImplementedError("请完成 build_training_args / implement build_training_args")


def train(model_dir: str, output_dir: str = LORA_PATH, args: TrainingArguments = None) -> Trainer:
    """加载模型，套上 LoRA，用 Trainer 训练，把 adapter 保存到 output_dir，返回 trainer。

    Load the model, wrap it with LoRA, train with Trainer, save the adapter into output_dir and
    return the trainer. `args` (if given) replaces build_training_args(output_dir): the grader passes
    its own learning rate and epochs for its small stand-in model.
    """
    # TODO(学生 / student): 完成 train，见上面的说明 / implement train as described above
    raise NotImplementedError("请完成 train / implement train")


if __name__ == "__main__":
    train(download_model(), LORA_PATH)
