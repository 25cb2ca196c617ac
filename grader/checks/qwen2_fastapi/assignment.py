"""qwen2_fastapi: the course's "FastApi 部署调用" chapter for Qwen2-7B-Instruct, with chat history."""
from grader.assignments import Assignment, Envelope, Grading, TimeLimit

ASSIGNMENT = Assignment(
    name="qwen2_fastapi",
    zh="Qwen2-7B-Instruct 的 FastAPI 接口（带对话历史）",
    en="A FastAPI endpoint for Qwen2-7B-Instruct, with chat history",
    order=40,
    files=("api.py",),
    notebooks={"api.py": "script"},   # run whole, as `python api.py`
    fixtures=("qwen2-7b-instruct-standin",),
    models=("qwen/Qwen2-7B-Instruct",),
    judge_models=("qwen/Qwen2-7B-Instruct",),   # the judge's replays: one base load per class run
    time_limits={
        # the whole run: start-up (the model load counts) and every request
        # measured: benchmarks/time_limits.py (the limit is LIMIT_MARGIN times it: grader/assignments.py)
        "serve": TimeLimit(6.4, "start-up and all requests", "启动和全部请求"),
        # each request within it, so a hung endpoint fails in a minute, not at the end of `serve`
        "request": TimeLimit(0.3, "a request", "每个请求", runs=0, measures=("serve:request{i}",)),
    },
    grading={"cpu": Grading(
        # a random stand-in seldom ends an answer by itself: each one ends with <|im_end|> after this
        # many new tokens (drawn per request), so an answer that keeps its special tokens shows
        overrides={"answer_tokens": (8, 48)},
        note_en="each answer of the stand-in ends with <|im_end|> after 8 to 48 tokens drawn at random; "
                "the judge replays the same",
        note_zh="替身小模型的每个回答在随机的 8 到 48 个 token 之后以 <|im_end|> 结束；评分器按同样方式重放"),
        # the real model ends its answers itself; a random stand-in of its shape does not
        "gpu": Grading(limits={"serve": 900, "request": 300}, fixtures=("qwen2-real-tokenizer", "qwen2-7b-instruct-gpu-standin"),
                       standin_overrides={"answer_tokens": (8, 48)})},
    pip=("fastapi==0.165.0", "uvicorn==0.55.0"),
    # one Gradescope container per submission: the judge and the server
    # peaked at 618 MB on the reference
    # (tests/test_course_tools.py prints it, graded inside this envelope)
    gradescope=Envelope(memory_mb=1536, sandbox_mb=1024),
)
