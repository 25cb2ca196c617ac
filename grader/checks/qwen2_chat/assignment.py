"""qwen2_chat declares itself: the Streamlit chat demo for Qwen2-7B-Instruct."""
from grader.assignments import Assignment, Envelope, Grading, TimeLimit

ASSIGNMENT = Assignment(
    name="qwen2_chat",
    zh="Qwen2 Streamlit 聊天应用", en="A Streamlit chat app for Qwen2-7B-Instruct",
    order=10,
    files=("chatBot.py",),
    notebooks={"chatBot.py": "script"},   # Streamlit runs the whole script
    fixtures=("qwen2-7b-instruct-standin",),
    models=("qwen/Qwen2-7B-Instruct",),
    judge_models=("qwen/Qwen2-7B-Instruct",),   # the judge's replays: one base load per class run
    # measured: benchmarks/time_limits.py (the limit is LIMIT_MARGIN times it: grader/assignments.py)
    time_limits={"chat": TimeLimit(8.2, "the whole AppTest session", "整个 AppTest 会话"),
                 # inside "chat": one AppTest run (the model's load counts on the first)
                 "chat_turn": TimeLimit(1.5, "a turn", "每轮", runs=0, measures=("chat:turn{i}",))},
    grading={"cpu": Grading(),
             # a 7B model loads in the first turn: minutes from a cold disk
             "gpu": Grading(limits={"chat": 900, "chat_turn": 300}, fixtures=("qwen2-real-tokenizer", "qwen2-7b-instruct-gpu-standin"))},
    # one Gradescope container per submission: the judge and the AppTest session
    # peaked at 634 MB on the reference
    # (tests/test_course_tools.py prints it, graded inside this envelope)
    gradescope=Envelope(memory_mb=1536, sandbox_mb=1024),
)
