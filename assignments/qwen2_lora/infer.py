"""加载 LoRA 权重推理 / answer a question with the base model plus the trained LoRA adapter.

Run `python infer.py` after `python train.py`.
"""
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from train import LORA_PATH, SYSTEM_PROMPT, download_model


def answer(model_dir: str, lora_path: str, question: str) -> str:
    """用 PeftModel 加载 adapter，套聊天模板生成，只返回新生成的回答（去掉提示词部分）。

    Load the adapter with PeftModel, build the prompt with the chat template (system SYSTEM_PROMPT,
    then the user's question), generate, and return only the new answer: slice the prompt's tokens
    off the output before decoding.
    """
    # TODO(学生 / student): 完成 answer，见上面的说明 / implement answer as described above
    raise NotImplementedError("请完成 answer / implement answer")


if __name__ == "__main__":
    print(answer(download_model(), LORA_PATH, "你是谁？"))
