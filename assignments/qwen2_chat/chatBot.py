# Qwen2-7B-Instruct Streamlit WebDemo / Qwen2 聊天网页
# 运行 / run:  streamlit run chatBot.py --server.address 127.0.0.1 --server.port 6006
import os

import streamlit as st
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

# 在侧边栏中创建一个标题和一个链接 / a title and a link in the sidebar
# 滑块：标签 max_length，范围 0 到 1024，默认 512 / the slider: label max_length, 0..1024, default 512
# TODO(学生 / student): 完成 这一步，见上面的说明 / implement this step as described above
raise NotImplementedError("请完成 这一步 / implement this step")

# 创建一个标题和一个副标题 / the title and the caption
# TODO(学生 / student): 完成 这一步，见上面的说明 / implement this step as described above
raise NotImplementedError("请完成 这一步 / implement this step")

# 模型路径：modelscope 缓存目录下的模型 ID；评分时 MODEL_CACHE_DIR 指向替身小模型
# The model folder inside the modelscope cache; the grader points MODEL_CACHE_DIR at its stand-in.
CACHE_DIR = os.environ.get("MODEL_CACHE_DIR", "/root/autodl-tmp")
mode_name_or_path = os.path.join(CACHE_DIR, "qwen", "Qwen2-7B-Instruct")


# 定义一个函数，用于获取模型和 tokenizer；st.cache_resource 保证只加载一次
# Load the model and tokenizer once: st.cache_resource keeps them across reruns.
@st.cache_resource
def get_model():
    # TODO(学生 / student): 完成 get_model，见上面的说明 / implement get_model as described above
    raise NotImplementedError("请完成 get_model / implement get_model")


def chat(tokenizer, model, messages, max_new_tokens):
    """用聊天模板把整个对话历史拼成提示词，生成，并只返回新生成的回答（去掉提示词）。

    Build the prompt from the whole conversation with the chat template, generate at most
    `max_new_tokens` tokens (the slider's value), and return only the new answer: slice the
    prompt's tokens off before decoding.
    """
    # TODO(学生 / student): 完成 chat，见上面的说明 / implement chat as described above
    raise NotImplementedError("请完成 chat / implement chat")


# 加载 Qwen2 的 model 和 tokenizer / load them (once)
tokenizer, model = get_model()

# 如果 session_state 中没有 "messages"，则创建一个包含问候语“有什么可以帮您的？”的列表；显示全部历史；
# 用户输入后：加入历史、显示、调用 chat()（传入滑块的值）、把回答加入历史并显示。
# Start the history with the greeting "有什么可以帮您的？"; show the whole history; on a new message:
# append it, show it, answer with chat() (passing the slider's value), append and show the answer.
# TODO(学生 / student): 完成 这一步，见上面的说明 / implement this step as described above
raise NotImplementedError("请完成 这一步 / implement this step")
