# 启动方式：uvicorn api:app --host 0.0.0.0 --port 6006
import torch
from fastapi import FastAPI, Request
from transformers import AutoModelForCausalLM, AutoTokenizer

path = "/root/autodl-tmp/qwen/Qwen2-7B-Instruct"
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float16).cuda()
model.eval()

app = FastAPI()


@app.post("/")
async def create_item(request: Request):
    data = await request.json()
    prompt = data["prompt"]
    history = data.get("history", [])
    messages = [{"role": "system", "content": "You are a helpful assistant."}] + history
    messages.append({"role": "user", "content": prompt})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    input_ids = tokenizer(text, return_tensors="pt").input_ids.cuda()
    outputs = model.generate(input_ids, max_new_tokens=512)
    response = tokenizer.decode(outputs[0][len(input_ids[0]):], skip_special_tokens=True)
    return {"response": response, "status": 200}
