# -*- coding: utf-8 -*-
"""Qwen2-7B-Instruct 聊天网页（作业 qwen2_chat）。

我把教程的代码拆成了几个函数，main() 里按顺序调用，方便以后改成别的模型。
运行：streamlit run chatBot.py --server.address 127.0.0.1 --server.port 6006
"""
import streamlit as st
import torch
from modelscope import snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer

MODEL_ID = "qwen/Qwen2-7B-Instruct"
GREETING = "有什么可以帮您的？"


def render_sidebar() -> int:
    """侧边栏：标题、链接和 max_length 滑块，返回滑块的值。"""
    with st.sidebar:
        st.markdown("## Qwen2 LLM")
        st.markdown("[开源大模型食用指南 self-llm](https://github.com/datawhalechina/self-llm.git)")
        return st.slider("max_length", 0, 1024, 512, step=1)


@st.cache_resource
def load_model_and_tokenizer():
    """模型已经在 /root/autodl-tmp 下载好了，snapshot_download 只是找到它的路径。"""
    model_dir = snapshot_download(MODEL_ID, cache_dir="/root/autodl-tmp", revision="master")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=False)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype="auto", device_map="auto")
    model.eval()
    return tokenizer, model


def init_history():
    if "messages" not in st.session_state:
        st.session_state["messages"] = [{"role": "assistant", "content": GREETING}]


def show_history():
    for msg in st.session_state.messages:
        st.chat_message(msg["role"]).write(msg["content"])


def generate_reply(tokenizer, model, messages, max_new_tokens: int) -> str:
    """整段对话套聊天模板，生成后只解码新的 token。"""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer([text], return_tensors="pt").to(model.device)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens)
    new_tokens = output[0][inputs["input_ids"].shape[1]:]
    return tokenizer.decode(new_tokens, skip_special_tokens=True)


def handle_input(tokenizer, model, max_length: int):
    prompt = st.chat_input("说点什么吧")
    if not prompt:
        return
    st.session_state.messages.append({"role": "user", "content": prompt})
    st.chat_message("user").write(prompt)
    reply = generate_reply(tokenizer, model, st.session_state.messages, max_length)
    st.session_state.messages.append({"role": "assistant", "content": reply})
    st.chat_message("assistant").write(reply)


def main():
    max_length = render_sidebar()
    st.title("💬 Qwen2 Chatbot")
    st.caption("🚀 A streamlit chatbot powered by Self-LLM")
    tokenizer, model = load_model_and_tokenizer()
    init_history()
    show_history()
    handle_input(tokenizer, model, max_length)


if __name__ == "__main__":
    main()
