"""qwen2_lora declares itself: the LoRA fine-tune of Qwen2-7B-Instruct with transformers + peft."""
from grader.assignments import Assignment, Grading, TimeLimit

ASSIGNMENT = Assignment(
    name="qwen2_lora",
    zh="Qwen2 LoRA 微调", en="A LoRA fine-tune of Qwen2-7B-Instruct",
    order=20,
    files=("train.py", "infer.py"),
    notebooks={"train.py": "module", "infer.py": "module"},
    probe="qwen2_lora_probe.py",
    # the real tokenizer judges process_func's encodings; the stand-in trains and answers
    fixtures=("qwen2-real-tokenizer", "qwen2-7b-instruct-standin"),
    time_limits={"inspect": TimeLimit(180, "the quick probe", "快速检查"),
                 "train": TimeLimit(600, "the training run", "训练")},
    grading={
        # the stand-in is tiny and random: at the tutorial's lr 1e-4 x 3 epochs it learns nothing,
        # so the training check trains with these, while the student's own values are checked for sense
        "cpu": Grading(overrides={"learning_rate": 1e-2, "num_train_epochs": 10, "use_cpu": True,
                                  "max_steps": -1, "seed": 42},
                       note_en="training at lr 1e-2 for 10 epochs (the stand-in learns nothing at the tutorial's 1e-4 x 3)",
                       note_zh="训练检查使用 lr 1e-2、10 个 epoch"),
    },
)
