# 作业：Qwen2 Streamlit 聊天机器人（面向对象的写法）
# streamlit run chatBot.py --server.address 127.0.0.1 --server.port 6006
import streamlit as st
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


class QwenChatBot:
    """把模型、分词器和对话历史放在一个类里。"""

    model_path = "/root/autodl-tmp/qwen/Qwen2-7B-Instruct"
    greeting = "有什么可以帮您的？"

    def __init__(self):
        self.tokenizer, self.model = self.load(self.model_path)
        if "messages" not in st.session_state:
            st.session_state.messages = [{"role": "assistant", "content": self.greeting}]

    @staticmethod
    @st.cache_resource
    def load(path):
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16, device_map="auto")
        return tokenizer, model

    @property
    def messages(self):
        return st.session_state.messages

    def sidebar(self):
        with st.sidebar:
            st.markdown("## Qwen2 LLM")
            "[开源大模型食用指南 self-llm](https://github.com/datawhalechina/self-llm.git)"
            self.max_length = st.slider("max_length", 0, 1024, 512, step=1)

    def answer(self) -> str:
        text = self.tokenizer.apply_chat_template(self.messages, tokenize=False, add_generation_prompt=True)
        model_inputs = self.tokenizer([text], return_tensors="pt").to(self.model.device)
        generated_ids = self.model.generate(
            model_inputs.input_ids,
            attention_mask=model_inputs.attention_mask,
            max_new_tokens=self.max_length,
        )
        generated_ids = generated_ids[:, model_inputs.input_ids.shape[1]:]
        return self.tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]

    def run(self):
        self.sidebar()
        st.title("💬 Qwen2 Chatbot")
        st.caption("🚀 A streamlit chatbot powered by Self-LLM")
        for msg in self.messages:
            with st.chat_message(msg["role"]):
                st.markdown(msg["content"])
        if prompt := st.chat_input():
            self.messages.append({"role": "user", "content": prompt})
            with st.chat_message("user"):
                st.markdown(prompt)
            with st.chat_message("assistant"):
                response = self.answer()
                st.markdown(response)
            self.messages.append({"role": "assistant", "content": response})


QwenChatBot().run()
