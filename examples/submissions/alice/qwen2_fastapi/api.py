# Qwen2-7B-Instruct FastApi 部署调用 / Serve Qwen2-7B-Instruct over HTTP with FastAPI
# 运行 / run:  python api.py
# 调用 / call:  curl -X POST "http://127.0.0.1:6006" -H 'Content-Type: application/json' \
#                    -d '{"prompt": "你好", "history": []}'
from fastapi import FastAPI, Request
from transformers import AutoTokenizer, AutoModelForCausalLM
import uvicorn
import json
import datetime
import torch

# 设置设备参数 / the device
DEVICE = "cuda"  # 使用CUDA / use CUDA
DEVICE_ID = "0"  # CUDA设备ID，如果未设置则为空 / the CUDA device id, empty if unset
CUDA_DEVICE = f"{DEVICE}:{DEVICE_ID}" if DEVICE_ID else DEVICE  # 组合CUDA设备信息 / e.g. cuda:0


# 清理GPU内存函数 / free the GPU's cached memory after each answer
def torch_gc():
    if torch.cuda.is_available():  # 检查是否可用CUDA / only with CUDA
        with torch.cuda.device(CUDA_DEVICE):  # 指定CUDA设备 / on our device
            torch.cuda.empty_cache()  # 清空CUDA缓存 / empty the cache
            torch.cuda.ipc_collect()  # 收集CUDA内存碎片 / collect IPC memory


# 创建FastAPI应用 / the FastAPI app
app = FastAPI()


# 处理POST请求的端点 / the endpoint: POST /
@app.post("/")
async def create_item(request: Request):
    """请求体 / the request body: {"prompt": "...", "history": [{"role": "user"|"assistant", "content": "..."}, ...]}
    （history 可省略，默认为空 / history is optional, empty by default）。

    用聊天模板把 system + history + 新问题 拼成提示词，生成（max_new_tokens=512），只解码新生成的 token
    （去掉提示词，skip_special_tokens=True），返回 JSON：{"response": 回答, "history": 加上这一轮的历史,
    "status": 200, "time": 时间}。模型和分词器在启动时加载一次（见文件末尾），这里直接使用全局变量。
    Build the prompt from system + history + the new prompt with the chat template, generate
    (max_new_tokens=512), decode only the new tokens (prompt sliced off, skip_special_tokens=True) and
    return JSON: {"response": answer, "history": history with this turn appended, "status": 200,
    "time": time}. The model and tokenizer are loaded once at start-up (end of the file): use the globals.
    """
    global model, tokenizer  # 声明全局变量以便在函数内部使用模型和分词器 / the globals loaded at start-up
    json_post_raw = await request.json()  # 获取POST请求的JSON数据 / the POSTed JSON
    json_post = json.dumps(json_post_raw)  # 将JSON数据转换为字符串 / to a string
    json_post_list = json.loads(json_post)  # 将字符串转换为Python对象 / and back to Python objects
    prompt = json_post_list.get('prompt')  # 获取请求中的提示 / the new prompt
    history = json_post_list.get('history') or []  # 之前的对话，可省略 / earlier turns, optional

    # 系统提示 + 历史 + 新问题 / system + history + the new prompt
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    messages += history
    messages.append({"role": "user", "content": prompt})

    # 调用模型进行对话生成 / generate the answer
    input_ids = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    model_inputs = tokenizer([input_ids], return_tensors="pt").to('cuda')
    generated_ids = model.generate(model_inputs.input_ids, max_new_tokens=512)
    generated_ids = [
        output_ids[len(input_ids):] for input_ids, output_ids in zip(model_inputs.input_ids, generated_ids)
    ]
    response = tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]
    now = datetime.datetime.now()  # 获取当前时间 / now
    time = now.strftime("%Y-%m-%d %H:%M:%S")  # 格式化时间为字符串 / as text
    # 构建响应JSON：回答、加上这一轮的历史 / the answer and the history with this turn
    history = history + [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    answer = {
        "response": response,
        "history": history,
        "status": 200,
        "time": time
    }
    # 构建日志信息 / log the exchange
    log = "[" + time + "] " + '", prompt:"' + prompt + '", response:"' + repr(response) + '"'
    print(log)  # 打印日志 / print it
    torch_gc()  # 执行GPU内存清理 / free GPU memory
    return answer  # 返回响应 / the JSON answer


if __name__ == "__main__":
    # 加载预训练的分词器和模型（启动时只加载一次）/ load the tokenizer and the model, once, at start-up
    model_name_or_path = '/root/autodl-tmp/qwen/Qwen2-7B-Instruct'
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, use_fast=False)
    model = AutoModelForCausalLM.from_pretrained(model_name_or_path, device_map="auto", torch_dtype=torch.bfloat16)

    # 启动FastAPI应用；用6006端口可以将autodl的端口映射到本地，从而在本地使用api
    # Start the app; port 6006 is the one AutoDL maps to your own machine.
    uvicorn.run(app, host='0.0.0.0', port=6006, workers=1)  # 在指定端口和主机上启动应用 / serve
