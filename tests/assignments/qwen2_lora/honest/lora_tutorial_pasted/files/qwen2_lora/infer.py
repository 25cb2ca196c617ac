"""加载 LoRA 权重推理 / answer a question with the base model plus the trained LoRA adapter.

Run `python infer.py` after `python train.py`.
"""
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from train import LORA_PATH, SYSTEM_PROMPT, build_lora_config, download_model


def answer(model_dir: str, lora_path: str, question: str) -> str:
    """用 PeftModel 加载 adapter，套聊天模板生成，只返回新生成的回答（去掉提示词部分）。

    Load the adapter with PeftModel, build the prompt with the chat template (system SYSTEM_PROMPT,
    then the user's question), generate, and return only the new answer: slice the prompt's tokens
    off the output before decoding.
    """
    mode_path = '/root/autodl-tmp/qwen/Qwen2-7B-Instruct/'
    config = build_lora_config()

    # 加载tokenizer
    tokenizer = AutoTokenizer.from_pretrained(mode_path)

    # 加载模型
    model = AutoModelForCausalLM.from_pretrained(mode_path, device_map="auto",torch_dtype=torch.bfloat16)

    # 加载lora权重
    model = PeftModel.from_pretrained(model, model_id=lora_path, config=config)

    prompt = question
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": prompt}
    ]

    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    model_inputs = tokenizer([text], return_tensors="pt").to('cuda')

    generated_ids = model.generate(
        model_inputs.input_ids,
        max_new_tokens=512
    )
    generated_ids = [
        output_ids[len(input_ids):] for input_ids, output_ids in zip(model_inputs.input_ids, generated_ids)
    ]

    response = tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]
    return response


if __name__ == "__main__":
    print(answer(download_model(), LORA_PATH, "你是谁？"))
