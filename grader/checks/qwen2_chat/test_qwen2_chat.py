"""Checks of the qwen2_chat assignment (the Streamlit chat demo).

The student's app ran under Streamlit's AppTest in the sandbox (fixture `chatted`); here the judge
replays every recorded `generate` call itself, with the same prompt ids and seed on its own copy
of the stand-in, and compares what the page showed with what it computes.
"""
from __future__ import annotations

import re

from grader.judge import check, checked_call, fail, replay_ids, require

GREETING_ROLE = "assistant"


def _messages(chatted, step: str) -> list[dict]:
    return chatted.value(step)["messages"]   # each step at its shape in probe/contract.py


def _calls(chatted) -> list[dict]:
    chatted.value("turn0")   # a first turn that failed is the root cause of any missing call
    calls = chatted.value("generate_calls")
    require(calls, "应用没有调用 model.generate 来回答。", "The app never called model.generate to answer.")
    return calls


def _answer_after(messages: list[dict], question: str) -> str:
    for i, m in enumerate(messages):
        if m["role"] == "user" and m["text"] == question:
            later = [n for n in messages[i + 1:] if n["role"] == "assistant"]
            require(later, "提问之后页面上没有出现助手的回答。", "No assistant answer appeared after the question.")
            return later[0]["text"]
    require(False, f"页面上没有用户消息 {question!r}：用户的输入要显示出来并加入历史。",
            f"The user's message {question!r} is not on the page: show it and add it to the history.")


_REPLAYS: dict[tuple, list[int]] = {}   # (call, its arguments) -> the judge's new ids (one grading per process)


def _replay_ids(calls: list, n: int, plan: dict, judge, max_new_tokens: int | None = None) -> list[int]:
    """The judge's own generation for recorded call ``n``: its prompt ids, dtype and arguments, with
    the seed the judge chose for it (whatever the record says) and, if given, the judge's own
    answer length in place of the student's. A call whose arguments already are those is generated once."""
    tokenizer, evaluator = judge
    call = checked_call(calls[n], tokenizer)
    kwargs = dict(call["kwargs"])
    if max_new_tokens is not None:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("max_new_tokens", "max_length")}
        kwargs["max_new_tokens"] = max_new_tokens
    key = (n, tuple(sorted(kwargs.items())))
    if key not in _REPLAYS:
        seeds = plan["seeds"]
        _REPLAYS[key] = replay_ids({**call, "kwargs": kwargs, "seed": seeds[n % len(seeds)]}, evaluator)
    return _REPLAYS[key]


def _replay(calls: list, n: int, plan: dict, judge, max_new_tokens: int | None = None) -> str:
    return judge[0].decode(_replay_ids(calls, n, plan, judge, max_new_tokens), skip_special_tokens=True)


@check(15,
       zh="应用能启动，显示标题、助手的问候语和聊天输入框",
       en="The app starts and shows a title, the assistant's greeting and a chat input",
       hint_zh="st.title(...)、session_state 里第一条助手消息（如“有什么可以帮您的？”）以及 st.chat_input()。"
               "按课程 GPU 机器写的代码（'cuda'、/root/autodl-tmp）可以原样评分。",
       hint_en="st.title(...), a first assistant message such as 有什么可以帮您的？ from st.session_state, and "
               "st.chat_input(). Code written for the course's GPU ('cuda', /root/autodl-tmp) runs as it is.")
def test_app_starts(chatted):
    page = chatted.value("start")
    require(page["title"] and page["title"][0].strip(), "页面没有标题（st.title）。", "The page has no title (st.title).")
    require(page["chat_inputs"] >= 1, "页面没有聊天输入框（st.chat_input）。", "The page has no chat input (st.chat_input).")
    first = page["messages"][0] if page["messages"] else None
    require(first and first["role"] == GREETING_ROLE and first["text"].strip(),
            "对话应以助手的问候语开始（例如“有什么可以帮您的？”）。",
            "The conversation must start with the assistant's greeting (e.g. 有什么可以帮您的？).")


@check(10,
       zh="侧边栏有 max_length 滑块：范围 0 到 1024，默认 512",
       en="The sidebar has the max_length slider: 0 to 1024, default 512",
       hint_zh='with st.sidebar: max_length = st.slider("max_length", 0, 1024, 512, step=1)',
       hint_en='with st.sidebar: max_length = st.slider("max_length", 0, 1024, 512, step=1)',
       depends=(test_app_starts,))
def test_slider(chatted):
    sliders = [s for s in chatted.value("start")["sidebar_sliders"] if "max_length" in s["label"].lower()]
    require(sliders, "侧边栏里没有标签为 max_length 的滑块。", "No slider labelled max_length in the sidebar.")
    s = sliders[0]
    require((s["min"], s["max"], s["value"]) == (0, 1024, 512),
            f"滑块应为 0 到 1024、默认 512，实际是 {s['min']} 到 {s['max']}、默认 {s['value']}。",
            f"The slider must go from 0 to 1024 with default 512; it is {s['min']}..{s['max']}, default {s['value']}.")


@check(25,
       zh="对随机新问题的回答正是模型生成的内容，且去掉了提示词",
       en="A fresh question is answered with the model's own generation, the prompt sliced off",
       hint_zh="只解码新生成的 token：output_ids[len(input_ids):]，并 skip_special_tokens=True。评分器会重放你的 "
               "generate 调用，并与页面上显示的文字比较。",
       hint_en="Decode only the new tokens: output_ids[len(input_ids):], with skip_special_tokens=True. The "
               "grader replays your generate call and compares the text shown on the page.",
       depends=(test_app_starts,))
def test_first_answer(chatted, session_plan, judge):
    question = session_plan["questions"][0]
    shown = _answer_after(_messages(chatted, "turn0"), question)
    expected = _replay(_calls(chatted), 0, session_plan, judge)
    require(shown.strip() == expected.strip(),
            "页面上的回答与模型生成的内容不同（是否带上了提示词？）。",
            "The answer on the page differs from the model's generation (is the prompt still in it?).",
            expected=expected[:200], actual=shown[:200])


def _edges_trimmed(chatml: str) -> str:
    """ChatML with the whitespace at each message's edges removed: Streamlit strips what it shows,
    so a message's leading or trailing newline cannot be read back from the page."""
    chatml = re.sub(r"\s+<\|im_end\|>", "<|im_end|>", chatml)
    return re.sub(r"(<\|im_start\|>\w+\n)\s+", r"\1", chatml)


@check(20,
       zh="每一轮的提示词都是用聊天模板拼接的完整对话历史",
       en="Every turn's prompt is the whole conversation through the chat template",
       hint_zh="把 st.session_state.messages（问候语、之前的问答）整个传给 "
               "tokenizer.apply_chat_template(..., add_generation_prompt=True)，并把每个回答加入 "
               "st.session_state.messages，下一轮才能看到它。",
       hint_en="Pass st.session_state.messages (greeting, questions and answers so far) to "
               "tokenizer.apply_chat_template(..., add_generation_prompt=True), and append each answer to "
               "st.session_state.messages so the next turn sees it.",
       depends=(test_app_starts,))
def test_history(chatted, session_plan, judge):
    """Each turn's prompt is held to the true conversation: the greeting, every earlier question with
    the answer the page showed for it (an app that forgets its own answers fails), the new question."""
    tokenizer, _ = judge
    questions = session_plan["questions"]
    calls = _calls(chatted)
    greeting = chatted.value("start")["messages"][0]
    conversation = [{"role": greeting["role"], "content": greeting["text"]}]
    for n, question in enumerate(questions):
        page = _messages(chatted, f"turn{n}")
        require(len(calls) > n, "不是每个问题都得到了一次生成。", "Not every question led to a generate call.")
        conversation.append({"role": "user", "content": question})
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        expected = tokenizer(text, add_special_tokens=False)["input_ids"]
        got = checked_call(calls[n], tokenizer)["input_ids"]
        # the same conversation but for edge whitespace the page cannot show (st.markdown strips it)
        if got != expected and _edges_trimmed(tokenizer.decode(got)) != _edges_trimmed(text):
            at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
            near = (f"token {at} of {len(got)} (expected {len(expected)}): got "
                    f"{tokenizer.decode(got[max(at - 8, 0):at + 8])!r}, expected "
                    f"{tokenizer.decode(expected[max(at - 8, 0):at + 8])!r}")
            fail(f"第 {n + 1} 轮的提示词不是整段对话（问候语、之前的问题和回答、新问题）经过聊天模板的结果。\n{near}",
                 f"Turn {n + 1}'s prompt is not the whole conversation (greeting, earlier questions and answers, "
                 f"the new question) through the chat template.\n{near}")
        conversation.append({"role": "assistant", "content": _answer_after(page, question)})


@check(15,
       zh="模型和分词器只加载一次，而不是每轮都加载（st.cache_resource）",
       en="The model and tokenizer are loaded once, not on every turn (st.cache_resource)",
       hint_zh="把加载放进带 @st.cache_resource 的函数：Streamlit 每条消息都会重新运行整个脚本。",
       hint_en="Put the loading in a function decorated with @st.cache_resource: Streamlit reruns the whole "
               "script on every message.",
       depends=(test_app_starts,))
def test_loaded_once(chatted):
    # evidence: the script ran again after the start (the slider or a question), whatever came after
    require(any(chatted.entry(step) is not None for step in ("slider", "turn0")),
            "应用启动后没有再运行过，无法判断模型是否只加载一次。",
            "The app never ran again after it started, so loading once cannot be shown.")
    loads = chatted.value("loads")
    require(loads["model"] == 1 and loads["tokenizer"] == 1,
            f"整个会话中模型加载了 {loads['model']} 次、分词器 {loads['tokenizer']} 次，应各 1 次。",
            f"Over the session the model was loaded {loads['model']} times and the tokenizer "
            f"{loads['tokenizer']} times; once each is right.",
            expected={"model": 1, "tokenizer": 1}, actual={"model": loads["model"], "tokenizer": loads["tokenizer"]})


@check(15,
       zh="滑块的值限制回答长度（传给了 generate）",
       en="The slider's value bounds the answer's length (it reaches generate)",
       hint_zh="教程里写死了 max_new_tokens=512，滑块根本不起作用：请改为 max_new_tokens=max_length。评分器把滑块拖到一个"
               "随机值，再用这个长度自己生成，与页面上的回答比较。",
       hint_en="The tutorial hard-codes max_new_tokens=512 and so ignores its own slider: pass "
               "max_new_tokens=max_length instead. The grader moves the slider to a random value, generates that "
               "many tokens itself and compares with the answers on the page.",
       depends=(test_first_answer,))
def test_slider_reaches_generate(chatted, session_plan, judge):
    """Judged on the answers the page showed: each must be the judge's own generation for that turn's
    prompt with the slider's value as the answer length (drawn at grading time). Only where that
    generation ends on its own before the limit does the answer not show the limit, and then the
    recorded arguments of the call decide."""
    value = session_plan["slider"]
    chatted.value("slider")
    calls = _calls(chatted)
    for n, question in enumerate(session_plan["questions"][:len(calls)]):
        shown = _answer_after(_messages(chatted, f"turn{n}"), question)
        ids = _replay_ids(calls, n, session_plan, judge, max_new_tokens=value)
        k, prompt = calls[n]["kwargs"], len(calls[n]["input_ids"])
        told = f"max_new_tokens={k.get('max_new_tokens')}、max_length={k.get('max_length')}"
        if len(ids) < value:   # ended before the limit: the answer cannot show it
            require(k.get("max_new_tokens") == value or k.get("max_length") == prompt + value,
                    f"滑块设为 {value}，generate 却收到 {told}。",
                    f"The slider was set to {value} but generate got {told.replace('、', ', ')}.")
            continue
        expected = judge[0].decode(ids, skip_special_tokens=True)
        require(shown.strip() == expected.strip(),
                f"滑块设为 {value}，第 {n + 1} 轮的回答却不是 {value} 个新 token 的生成结果（generate 收到 {told}）。",
                f"The slider was set to {value}, but turn {n + 1}'s answer is not the generation of {value} new "
                f"tokens (generate got {told.replace('、', ', ')}).",
                expected=expected[:200], actual=shown[:200])
