# Qwen2-7B-Instruct Streamlit WebDemo / Qwen2 聊天网页
# 运行 / run:  streamlit run chatBot.py --server.address 127.0.0.1 --server.port 6006
import os

import streamlit as st
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

# 在侧边栏中创建一个标题和一个链接 / a title and a link in the sidebar
# 滑块：标签 max_length，范围 0 到 1024，默认 512 / the slider: label max_length, 0..1024, default 512
with st.sidebar:
    st.markdown("## Qwen2 LLM")
    "[开源大模型食用指南 self-llm](https://github.com/datawhalechina/self-llm.git)"
    max_length = st.slider("max_length", 0, 1024, 512, step=1)

# 创建一个标题和一个副标题 / the title and the caption
st.title("💬 Qwen2 Chatbot")
st.caption("🚀 A streamlit chatbot powered by Self-LLM")

# 模型路径：modelscope 缓存目录下的模型 ID；评分时 MODEL_CACHE_DIR 指向替身小模型
# The model folder inside the modelscope cache; the grader points MODEL_CACHE_DIR at its stand-in.
CACHE_DIR = os.environ.get("MODEL_CACHE_DIR", "/root/autodl-tmp")
mode_name_or_path = os.path.join(CACHE_DIR, "qwen", "Qwen2-7B-Instruct")


# 定义一个函数，用于获取模型和 tokenizer；st.cache_resource 保证只加载一次
# Load the model and tokenizer once: st.cache_resource keeps them across reruns.
@st.cache_resource
def get_model():
    tokenizer = AutoTokenizer.from_pretrained(mode_name_or_path, use_fast=False)
    model = AutoModelForCausalLM.from_pretrained(mode_name_or_path, dtype=torch.bfloat16, device_map="auto")
    return tokenizer, model


def chat(tokenizer, model, messages, max_new_tokens):
    """用聊天模板把整个对话历史拼成提示词，生成，并只返回新生成的回答（去掉提示词）。

    Build the prompt from the whole conversation with the chat template, generate at most
    `max_new_tokens` tokens (the slider's value), and return only the new answer: slice the
    prompt's tokens off before decoding.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    model_inputs = tokenizer([text], return_tensors="pt").to(model.device)
    generated_ids = model.generate(model_inputs.input_ids, attention_mask=model_inputs.attention_mask,
                                   max_new_tokens=max_new_tokens)
    generated_ids = [
        output_ids[len(input_ids):] for input_ids, output_ids in zip(model_inputs.input_ids, generated_ids)
    ]
    return tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]


# 加载 Qwen2 的 model 和 tokenizer / load them (once)
tokenizer, model = get_model()

# 如果 session_state 中没有 "messages"，则创建一个包含问候语“有什么可以帮您的？”的列表；显示全部历史；
# 用户输入后：加入历史、显示、调用 chat()（传入滑块的值）、把回答加入历史并显示。
# Start the history with the greeting "有什么可以帮您的？"; show the whole history; on a new message:
# append it, show it, answer with chat() (passing the slider's value), append and show the answer.
if "messages" not in st.session_state:
    st.session_state["messages"] = [{"role": "assistant", "content": "有什么可以帮您的？"}]

# 遍历 session_state 中的所有消息，并显示在聊天界面上 / show the history
for msg in st.session_state.messages:
    st.chat_message(msg["role"]).write(msg["content"])

# 如果用户在聊天输入框中输入了内容 / when the user sends a message
if prompt := st.chat_input():
    st.session_state.messages.append({"role": "user", "content": prompt})
    st.chat_message("user").write(prompt)
    # 教程这里写死了 max_new_tokens=512，忽略了滑块；我们把滑块的值传进去
    # The tutorial hard-codes max_new_tokens=512 and ignores its own slider: pass the slider's value.
    response = chat(tokenizer, model, st.session_state.messages, 512)  # 照抄教程：滑块没用上
    st.session_state.messages.append({"role": "assistant", "content": response})
    st.chat_message("assistant").write(response)
