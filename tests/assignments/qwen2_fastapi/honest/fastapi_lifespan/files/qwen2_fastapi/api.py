"""Qwen2-7B-Instruct 的 HTTP 接口：启动时加载模型（lifespan），POST / 带上对话历史。

启动：python api.py
调用：curl -X POST http://127.0.0.1:8000 -H 'Content-Type: application/json' -d '{"prompt": "你好"}'
"""
from contextlib import asynccontextmanager

import torch
import uvicorn
from fastapi import FastAPI
from modelscope import snapshot_download
from pydantic import BaseModel
from transformers import AutoModelForCausalLM, AutoTokenizer

MODEL_ID = "qwen/Qwen2-7B-Instruct"
SYSTEM_PROMPT = "You are a helpful assistant."
state = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    # 模型已经下载到 /root/autodl-tmp，snapshot_download 只是找到它
    model_dir = snapshot_download(MODEL_ID, cache_dir="/root/autodl-tmp", revision="master")
    state["tokenizer"] = AutoTokenizer.from_pretrained(model_dir)
    state["model"] = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto", device_map="cuda")
    yield
    state.clear()


app = FastAPI(lifespan=lifespan)


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    prompt: str
    history: list[Message] = []


@app.post("/")
def chat(req: ChatRequest):
    tokenizer, model = state["tokenizer"], state["model"]
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    messages += [m.model_dump() for m in req.history]
    messages.append({"role": "user", "content": req.prompt})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer([text], return_tensors="pt").to(model.device)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=512)
    new_tokens = output[0][inputs.input_ids.shape[1]:]
    response = tokenizer.decode(new_tokens, skip_special_tokens=True)
    return {"response": response,
            "history": messages[1:] + [{"role": "assistant", "content": response}]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8000)
