"""Checks of the qwen2_fastapi assignment (the FastAPI endpoint, with chat history).

The student's api.py ran in the sandbox as `python api.py` (fixture `served`), and a client there
POSTed the judge's three fresh requests: a question alone, one with a history, one with an empty
history. Here the judge holds each prompt to the chat template over its own messages and replays
every recorded generate call itself, with the seed and the answer length it chose.
"""
from __future__ import annotations

from grader.judge import check, checked_call, fail, replay, require, skip

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
SPECIAL = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
EACH_ZH = "每个请求都由它自己的一次生成来回答，服务能连续回答多个请求"
EACH_EN = "Every request is answered by a generation of its own, and the server answers request after request"
_REPLAYS: dict[int, str] = {}   # call index -> the judge's text (one grading per pytest process)


def _ids(tokenizer, messages: list[dict]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _messages(request: dict) -> list[dict]:
    return [SYSTEM, *request.get("history", []), {"role": "user", "content": request["prompt"]}]


def _calls(served) -> list:
    calls = served.value("generate_calls")
    return calls if isinstance(calls, list) else []


def _answer_call(reply, calls: list) -> int | None:
    """The last generate call made while this request was answered (the one its answer comes from)."""
    made = reply.get("calls") if isinstance(reply, dict) else None
    made = [c for c in made if isinstance(c, int) and 0 <= c < len(calls)] if isinstance(made, list) else []
    return made[-1] if made else None


def _answered(served, plan) -> list[tuple[int, dict, int | None]]:
    """(request number, reply, its call) for each request answered, up to the first that was not
    (that one is reported by the check of every request)."""
    calls, out = _calls(served), []
    for i in range(len(plan["requests"])):
        entry = served.entry(f"request{i}")
        if not isinstance(entry, dict) or not entry.get("ok") or not isinstance(entry.get("value"), dict):
            break
        out.append((i, entry["value"], _answer_call(entry["value"], calls)))
    return out


def _with_calls(served, plan) -> list[tuple[int, dict, int]]:
    found = [(i, reply, call) for i, reply, call in _answered(served, plan) if call is not None]
    if not found:
        skip(f"跳过：没有请求调用过 model.generate，已在检查“{EACH_ZH}”中报告。",
             f"Skipped: no request called model.generate; reported in the check “{EACH_EN}”.")
    return found


def _cap(call: dict) -> int | None:
    """How many new tokens the student's generate call allowed, when its arguments say."""
    kwargs = call["kwargs"]
    if isinstance(kwargs.get("max_new_tokens"), int):
        return kwargs["max_new_tokens"]
    if isinstance(kwargs.get("max_length"), int):
        return kwargs["max_length"] - len(call["input_ids"])
    return None


def _replay(calls: list, index: int, plan: dict, judge) -> str:
    """The judge's own text for generate call `index`: its prompt ids and arguments, with the judge's
    seed and (cpu) answer end. The probe ended the answer with <|im_end|> as its k-th new token and
    left the tokens before it as they were: they are what max_new_tokens = k - 1 gives."""
    if index not in _REPLAYS:
        tokenizer, evaluator = judge
        call = checked_call(calls[index], tokenizer)
        n = len(plan["seeds"])
        kwargs = {k: v for k, v in call["kwargs"].items() if k not in ("max_new_tokens", "max_length")}
        cap = _cap(call)
        if plan["end_after"]:
            k = plan["end_after"][index % n] - 1
            cap = k if cap is None else min(cap, k)
        if cap is not None:
            kwargs["max_new_tokens"] = max(cap, 0)
        # the seed the judge chose for this call, whatever the record says
        _REPLAYS[index] = replay({**call, "seed": plan["seeds"][index % n], "kwargs": kwargs}, tokenizer, evaluator)
    return _REPLAYS[index]


@check(15,
       zh="服务能启动，并对 POST / 返回带 \"response\" 的 JSON",
       en="The server starts and answers POST / with JSON holding the \"response\"",
       hint_zh="@app.post(\"/\") async def create_item(request: Request): ……return {\"response\": response, ……}；"
               "在 if __name__ == \"__main__\": 里用 uvicorn.run(app, host='0.0.0.0', port=6006) 启动。"
               "按课程 GPU 机器写的代码（'cuda'、bfloat16、/root/autodl-tmp）可以原样评分。",
       hint_en="@app.post(\"/\") async def create_item(request: Request): ... return {\"response\": response, ...}; "
               "start it with uvicorn.run(app, host='0.0.0.0', port=6006) under if __name__ == \"__main__\":. "
               "Code written for the course's GPU ('cuda', bfloat16, /root/autodl-tmp) runs as it is.")
def test_server_answers(served):
    served.value("serve")
    body = served.value("request0", dict).get("json")
    require(isinstance(body, dict), f"回答不是 JSON 对象：{body!r:.200}", f"The answer is not a JSON object: {body!r:.200}")
    require(isinstance(body.get("response"), str),
            f"返回的 JSON 里没有字符串字段 \"response\"：{sorted(body)!r:.200}",
            f"The JSON answer has no string field \"response\": {sorted(body)!r:.200}")


@check(15,
       zh="模型和分词器在启动时只加载一次，而不是每个请求都加载",
       en="The model and tokenizer are loaded once, at start-up, not for each request",
       hint_zh="在 uvicorn.run 之前加载（if __name__ == \"__main__\": 里、导入时或 FastAPI 的 lifespan 里），接口里直接用"
               "全局变量：7B 模型加载一次要好几分钟。",
       hint_en="Load them before uvicorn.run (in if __name__ == \"__main__\":, at import, or in a FastAPI lifespan "
               "handler) and use the globals in the endpoint: a 7B model takes minutes to load.",
       depends=(test_server_answers,))
def test_loaded_once(served):
    served.value("request0")   # the evidence: requests came after start-up
    loads = served.value("loads")
    loads = [entry for entry in loads if isinstance(entry, dict)] if isinstance(loads, list) else []
    models = sum(entry.get("kind") == "model" for entry in loads)
    tokenizers = sum(entry.get("kind") == "tokenizer" for entry in loads)
    require(models == 1 and tokenizers == 1,
            f"模型加载了 {models} 次、分词器 {tokenizers} 次，应各 1 次（启动时）。",
            f"The model was loaded {models} times and the tokenizer {tokenizers} times; once each, at start-up, is right.")
    require(not any(entry.get("requests_before") for entry in loads),
            "模型或分词器是收到请求之后才加载的：应在服务启动时加载，第一个用户不必等。",
            "The model or tokenizer was loaded after a request arrived: load them when the server starts.")


@check(15,
       zh=EACH_ZH,
       en=EACH_EN,
       hint_zh="每个请求都要调用 model.generate（不能写死或缓存回答），服务也要一直运行；接口里出错会返回 HTTP 500。",
       hint_en="Call model.generate for every request (no canned or cached answers), and keep the server running: "
               "an error in the endpoint answers HTTP 500.",
       depends=(test_server_answers,))
def test_each_request_generates(served, plan, judge):
    tokenizer, _ = judge
    calls = _calls(served)
    for i in range(len(plan["requests"])):
        index = _answer_call(served.value(f"request{i}"), calls)
        require(index is not None, f"第 {i + 1} 个请求没有调用 model.generate：每个请求都要由模型生成新的回答。",
                f"Request {i + 1} never called model.generate: every request needs an answer generated for it.")
        call = checked_call(calls[index], tokenizer)
        output = call.get("output_ids")
        require(output is not None, "generate 的调用记录不完整。", "The record of the generate call is incomplete.")
        recorded = tokenizer.decode(output[len(call["input_ids"]):], skip_special_tokens=True)
        require(recorded == _replay(calls, index, plan, judge),
                f"第 {i + 1} 个请求的 generate 记录与评分器的重放不同：这不是模型真正生成的结果。",
                f"Request {i + 1}'s generate record differs from the judge's replay: the model did not generate it.")


@check(20,
       zh="每个提示词都是聊天模板拼接的 system 消息、历史和新问题",
       en="Each prompt is the chat template over the system message, the history and the new prompt",
       hint_zh="messages = [{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}] + history + "
               "[{\"role\": \"user\", \"content\": prompt}]，再用 tokenizer.apply_chat_template(messages, tokenize=False, "
               "add_generation_prompt=True)；不要手工拼提示词。",
       hint_en="messages = [{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"}] + history + "
               "[{\"role\": \"user\", \"content\": prompt}], then tokenizer.apply_chat_template(messages, tokenize=False, "
               "add_generation_prompt=True); do not build the prompt by hand.",
       depends=(test_server_answers,))
def test_prompt_template(served, plan, judge):
    tokenizer, _ = judge
    calls = _calls(served)
    for i, _, index in _with_calls(served, plan):
        request = plan["requests"][i]
        got, expected = checked_call(calls[index], tokenizer)["input_ids"], _ids(tokenizer, _messages(request))
        if got == expected:
            continue
        if request.get("history") and got == _ids(tokenizer, _messages({"prompt": request["prompt"]})):
            continue   # the history was left out: the history check reports that
        at = next((n for n, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        near = (f"token {at} of {len(got)} (expected {len(expected)}): got "
                f"{tokenizer.decode(got[max(at - 8, 0):at + 8])!r}, expected "
                f"{tokenizer.decode(expected[max(at - 8, 0):at + 8])!r}")
        fail(f"第 {i + 1} 个请求的提示词不是聊天模板拼接的 system 消息、历史和新问题。\n{near}",
             f"Request {i + 1}'s prompt is not the chat template over the system message, the history and the "
             f"new prompt.\n{near}")


@check(15,
       zh="请求里带的 history 按顺序进入了提示词，位于新问题之前",
       en="The history sent with a request reaches the prompt, in order, before the new prompt",
       hint_zh="history = json_post_list.get('history') or []，放在 system 消息和新问题之间："
               "messages = [system] + history + [user]。",
       hint_en="history = json_post_list.get('history') or [] and put it between the system message and the new "
               "prompt: messages = [system] + history + [user].",
       depends=(test_server_answers,))
def test_history_reaches_prompt(served, plan, judge):
    tokenizer, _ = judge
    calls = _calls(served)
    index = _answer_call(served.value("request1"), calls)
    if index is None:
        skip(f"跳过：带 history 的请求没有调用 model.generate，已在检查“{EACH_ZH}”中报告。",
             f"Skipped: the request with a history never called model.generate; reported in the check “{EACH_EN}”.")
    text = tokenizer.decode(checked_call(calls[index], tokenizer)["input_ids"])
    at = 0
    for message in _messages(plan["requests"][1])[1:]:
        found = text.find(message["content"], at)
        require(found >= 0, f"第 2 个请求带了 history，提示词里却（按顺序）找不到这条 {message['role']} 消息："
                            f"{message['content']!r}\n提示词：{text[-600:]!r}",
                f"Request 2 sent a history, but its prompt lacks (in order) this {message['role']} message: "
                f"{message['content']!r}\nprompt: {text[-600:]!r}")
        at = found + len(message["content"])


@check(20,
       zh="\"response\" 正是模型生成的内容：只有新生成的 token，去掉了特殊 token",
       en="The \"response\" is the model's generation: new tokens only, special tokens skipped",
       hint_zh="去掉提示词（output_ids[len(input_ids):]），再用 tokenizer.batch_decode(generated_ids, "
               "skip_special_tokens=True)[0] 解码。评分器会重放你的 generate 调用并比较文字。",
       hint_en="Slice the prompt off (output_ids[len(input_ids):]) and decode with "
               "tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]. The grader replays your "
               "generate call and compares the text.",
       depends=(test_server_answers,))
def test_response_is_the_generation(served, plan, judge):
    tokenizer, _ = judge
    calls = _calls(served)
    for i, reply, index in _with_calls(served, plan):
        call = checked_call(calls[index], tokenizer)
        cap, least = _cap(call), plan.get("min_new_tokens", 0)
        require(cap is None or cap >= least,
                f"generate 最多只生成 {cap} 个新 token，评分至少需要 {least} 个（课程用 max_new_tokens=512）。",
                f"generate may make at most {cap} new tokens; grading needs at least {least} (the course uses "
                f"max_new_tokens=512).")
        body = reply.get("json")
        shown = body.get("response") if isinstance(body, dict) else None
        require(isinstance(shown, str), f"第 {i + 1} 个请求的回答里没有字符串字段 \"response\"。",
                f"Request {i + 1}'s answer has no string field \"response\".")
        expected = _replay(calls, index, plan, judge)
        if shown.strip() == expected.strip():
            continue
        why_zh, why_en = "", ""
        if any(token in shown for token in SPECIAL):
            why_zh, why_en = "回答里还有特殊 token（要 skip_special_tokens=True）。", " Special tokens are left in (skip_special_tokens=True)."
        elif plan["requests"][i]["prompt"] in shown:
            why_zh, why_en = "回答里还带着提示词（要去掉提示词的 token）。", " The prompt is still in it (slice its tokens off)."
        fail(f"第 {i + 1} 个请求的 \"response\" 与模型生成的内容不同。{why_zh}\n返回：{shown[:300]!r}\n应为：{expected[:300]!r}",
             f"Request {i + 1}'s \"response\" differs from the model's generation.{why_en}\n"
             f"returned: {shown[:300]!r}\nexpected: {expected[:300]!r}")
