"""qwen2_lora declares itself: the LoRA fine-tune of Qwen2-7B-Instruct with transformers + peft."""
from grader.assignments import Assignment, Envelope, Grading, TimeLimit

GPU_STEPS = 60   # the gpu profile's short run (x batch 4: each of ~20 records seen about a dozen times)

ASSIGNMENT = Assignment(
    name="qwen2_lora",
    zh="Qwen2 LoRA 微调", en="A LoRA fine-tune of Qwen2-7B-Instruct",
    order=20,
    files=("train.py", "infer.py"),
    notebooks={"train.py": "module", "infer.py": "module"},
    # the real tokenizer judges process_func's encodings; the stand-in trains and answers
    fixtures=("qwen2-real-tokenizer", "qwen2-7b-instruct-standin"),
    models=("qwen/Qwen2-7B-Instruct",),
    judge_models=("qwen/Qwen2-7B-Instruct",),   # the judge's replays: one base load per class run
    # measured: benchmarks/time_limits.py (the limit is LIMIT_MARGIN times it: grader/assignments.py)
    time_limits={"inspect": TimeLimit(7.2, "the quick probe", "快速检查"),
                 "train": TimeLimit(37.7, "the training run", "训练")},
    grading={
        # the stand-in is tiny and random: at the tutorial's lr 1e-4 x 3 epochs it learns nothing,
        # so the training check trains with these, while the student's own values are checked for sense
        # fold_accumulation: the student's batch x accumulation in one batch a step (the probe's
        # _with_overrides): the same steps, a quarter of the passes (measured 21.8 s -> 13.5 s a run)
        "cpu": Grading(overrides={"learning_rate": 1e-2, "num_train_epochs": 10, "use_cpu": True,
                                  "max_steps": -1, "seed": 42, "fold_accumulation": True},
                       note_en="training at lr 1e-2 for 10 epochs (the stand-in learns nothing at the tutorial's 1e-4 x 3)",
                       note_zh="训练检查使用 lr 1e-2、10 个 epoch"),
        # the real weights: the tutorial's lr, a short run of fixed length and seed. A random stand-in of
        # the 7B shape learns an answer only at the tiny stand-in's lr (unmeasured on a GPU so far:
        # benchmarks/gpu_profile.py prints whether it does)
        "gpu": Grading(overrides={"learning_rate": 1e-4, "max_steps": GPU_STEPS, "num_train_epochs": 1,
                                  "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                                  "seed": 42, "logging_steps": 5, "save_strategy": "no", "report_to": []},
                       standin_overrides={"learning_rate": 1e-2},
                       limits={"inspect": 300, "train": 900}, fixtures=("qwen2-real-tokenizer", "qwen2-7b-instruct-gpu-standin"),
                       note_en=f"a short run: {GPU_STEPS} steps at the tutorial's lr 1e-4, batch 4, seed 42",
                       note_zh=f"短训练：{GPU_STEPS} 步，教程的 lr 1e-4，batch 4，seed 42"),
    },
    # one Gradescope container per submission: the judge and two sandboxes at once (inspect and train)
    # peaked at 1182 MB on the reference
    # (tests/test_course_tools.py prints it, graded inside this envelope)
    gradescope=Envelope(memory_mb=3072, sandbox_mb=1280),
)
