# 导入所需的库
from transformers import AutoTokenizer, AutoModelForCausalLM
import torch
import streamlit as st

# 我的服务器是单卡 4090，直接用 cuda
device = torch.device("cuda")

with st.sidebar:
    st.markdown("## Qwen2 LLM")
    "[开源大模型食用指南 self-llm](https://github.com/datawhalechina/self-llm.git)"
    max_length = st.slider("max_length", 0, 1024, 512, step=1)

st.title("💬 Qwen2 Chatbot")
st.caption("🚀 A streamlit chatbot powered by Self-LLM")

mode_name_or_path = '/root/autodl-tmp/qwen/Qwen2-7B-Instruct'


@st.cache_resource
def get_model():
    tokenizer = AutoTokenizer.from_pretrained(mode_name_or_path, use_fast=False)
    model = AutoModelForCausalLM.from_pretrained(mode_name_or_path, torch_dtype=torch.float16).cuda()
    model.eval()
    return tokenizer, model


tokenizer, model = get_model()

if "messages" not in st.session_state:
    st.session_state["messages"] = [{"role": "assistant", "content": "有什么可以帮您的？"}]

for msg in st.session_state.messages:
    st.chat_message(msg["role"]).write(msg["content"])

if prompt := st.chat_input():
    st.session_state.messages.append({"role": "user", "content": prompt})
    st.chat_message("user").write(prompt)

    text = tokenizer.apply_chat_template(st.session_state.messages, tokenize=False, add_generation_prompt=True)
    input_ids = tokenizer.encode(text, return_tensors="pt").to(device)
    attention_mask = torch.ones_like(input_ids).cuda()
    with torch.no_grad():
        output_ids = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=max_length)
    response = tokenizer.decode(output_ids[0][input_ids.shape[-1]:], skip_special_tokens=True)
    torch.cuda.empty_cache()  # 显存不够的时候清一下

    st.session_state.messages.append({"role": "assistant", "content": response})
    st.chat_message("assistant").write(response)
