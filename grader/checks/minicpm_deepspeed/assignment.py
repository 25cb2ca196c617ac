"""minicpm_deepspeed declares itself: MiniCPM-2B trained with DeepSpeed ZeRO-2 and CPU offload."""
from grader.assignments import Assignment, Envelope, Grading, TimeLimit

# measured on the MiniCPM stand-in (fixtures/recipes/minicpm_standin.py): LoRA q/k/v/o r=8 learns the
# 甄嬛 answer in ~50 epochs at 1e-2, full training in 20 at 5e-3; batch 4, no accumulation. LoRA's
# init was drawn afresh in every grading (train.py builds it before the Trainer seeds; the DeepSpeed
# hook now seeds torch on import, so one submission trains the same every time), and a correct one
# must learn with a margin whatever its own init (benchmarks/answer_margin.py): at 1e-2 x 100 epochs
# the weakest token of the taught answer led by 0.7-3.1 logits (18 runs) and the run sat at the edge
# of divergence (2e-2 diverged 5 runs of 5, with warm-up or Adam beta2 0.95 too, answering "，" or "。":
# the kind of answer a reference once gave in a class run); at 5e-3 x 150 by 1.9-3.6 (4 runs), a
# training loss of ~0.8 instead of ~1.0, 4x below the diverging rate. Thread count and load change
# nothing: with the init seeded, 1 and 2 threads, with and without CPU hogs, gave identical losses.
# Trained on TRAINING_RECORDS of the course's 24: the taught one and the shortest others (fresh.dataset;
# the judge asks one question, and the other records only interfere; a batch is padded to its longest
# record, and the first 8 held two of 106 and 134 tokens). Measured (answer_margin.py --threads 1
# --seed-init 1,2,3 --records N --set num_train_epochs=E): LoRA on the first 8 x 150 epochs (300 steps)
# learned with a margin of 2.96-4.11; on the short ones 8 x 150 5.72-6.36, 8 x 75 4.27-4.94, 4 x 100
# 6.24-6.36, 4 x 60 (60 steps of batch 4) 4.86-5.27; full 8 x 20 7.98, 4 x 20 8.44. On short records a
# step costs ~40 ms, mostly the stand-in's fixed overhead, so steps are what a launch pays. (The four:
# 你是谁？, 你父亲是谁？ with the same answer, 你最怕什么？ and 请用一句话形容后宫。)
# These TrainingArguments fields are set on every rank train.sh starts, before __post_init__ fills
# the DeepSpeed config's "auto" fields.
TRAINING_RECORDS, LORA_EPOCHS, FULL_EPOCHS = 4, 60, 20
CPU_OVERRIDES = {
    mode: {"learning_rate": lr, "num_train_epochs": epochs, "max_steps": -1, "seed": 42,
           "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
           "logging_steps": 1, "save_strategy": "no", "report_to": [], "disable_tqdm": True,
           "fp16": False, "bf16": False, "dataloader_num_workers": 0, "warmup_steps": 0,
           "warmup_ratio": 0.0, "max_grad_norm": 1.0, "weight_decay": 0.0}
    for mode, lr, epochs in (("lora", 5e-3, LORA_EPOCHS), ("full", 5e-3, FULL_EPOCHS))}
GPU_STEPS = 60
# the real MiniCPM-2B on a GPU: a short run at usual fine-tuning rates, in the student's own precision
GPU_OVERRIDES = {
    mode: {"learning_rate": lr, "max_steps": GPU_STEPS, "num_train_epochs": 1, "seed": 42,
           "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "logging_steps": 5,
           "save_strategy": "no", "report_to": [], "disable_tqdm": True, "dataloader_num_workers": 0,
           "warmup_steps": 0, "warmup_ratio": 0.0}
    for mode, lr in (("lora", 1e-4), ("full", 1e-5))}
# a random stand-in of MiniCPM-2B's shape: lr 1e-2 (LoRA) and 5e-3 (full), unmeasured on a GPU so far
GPU_STANDIN_OVERRIDES = {mode: {**GPU_OVERRIDES[mode], "learning_rate": lr} for mode, lr in (("lora", 1e-2), ("full", 5e-3))}
# measured with these lr and epochs: a constant WarmupLR reached only 5.73 of 8.42 (LoRA), so
# whatever scheduler the student chose (none, WarmupLR, WarmupCosineLR), grading uses this one
SCHEDULER = {"type": "WarmupDecayLR",
             "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                        "warmup_num_steps": "auto", "total_num_steps": "auto"}}

ASSIGNMENT = Assignment(
    name="minicpm_deepspeed",
    zh="MiniCPM-2B DeepSpeed 训练", en="Training MiniCPM-2B with DeepSpeed ZeRO-2 and CPU offload",
    order=30,
    files=("train.py", "ds_config.json", "train.sh"),
    notebooks={"train.py": "module"},   # imported by the probe, run by train.sh as a script
    fixtures=("minicpm-2b-standin", "deepspeed-ops"),
    models=("OpenBMB/MiniCPM-2B-sft-fp32",),
    # measured: benchmarks/time_limits.py (the limit is LIMIT_MARGIN times it: grader/assignments.py)
    time_limits={"inspect": TimeLimit(5.9, "the quick probe", "快速检查"),
                 "deepspeed": TimeLimit(17.3, "a launch", "每次启动", runs=2,   # LoRA, then full
                                        measures=("lora", "full"))},
    grading={"cpu": Grading(overrides={"modes": CPU_OVERRIDES, "scheduler": SCHEDULER, "records": TRAINING_RECORDS},
                            note_en=f"DeepSpeed launches on {TRAINING_RECORDS} records of huanhuan.json (你是谁？ and the "
                                    f"shortest) at lr 5e-3 x {LORA_EPOCHS} epochs (LoRA) and 5e-3 x {FULL_EPOCHS} "
                                    f"(full), WarmupDecayLR",
                            note_zh=f"DeepSpeed 训练使用 huanhuan.json 的 {TRAINING_RECORDS} 条（“你是谁？”和最短的几条），LoRA "
                                    f"lr 5e-3、{LORA_EPOCHS} 个 epoch，全参 5e-3、{FULL_EPOCHS} 个 epoch，WarmupDecayLR"),
             # the student's own precision and device_map on the GPU; ZeRO-2 with the optimizer on the CPU
             "gpu": Grading(overrides={"modes": GPU_OVERRIDES, "scheduler": SCHEDULER},
                            standin_overrides={"modes": GPU_STANDIN_OVERRIDES},
                            limits={"inspect": 300, "deepspeed": 900},
                            fixtures=("minicpm-2b-gpu-standin",),
                            note_en=f"DeepSpeed launches of {GPU_STEPS} steps at lr 1e-4 (LoRA) and 1e-5 (full), seed 42",
                            note_zh=f"DeepSpeed 训练 {GPU_STEPS} 步，LoRA lr 1e-4，全参 1e-5，seed 42")},
    apt=("g++",),   # DeepSpeed's CPU ops are JIT-built once, at set-up
    # one Gradescope container per submission: the judge and one DeepSpeed launch at a time
    # peaked at 1281 MB on the reference
    # (tests/test_course_tools.py prints it, graded inside this envelope)
    gradescope=Envelope(memory_mb=2560, sandbox_mb=1536),
)
