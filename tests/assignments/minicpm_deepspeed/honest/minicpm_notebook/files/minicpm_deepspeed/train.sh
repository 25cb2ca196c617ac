#!/usr/bin/env bash
# 用 deepspeed 启动器启动 train.py（全量训练；加 --use_lora True 做 LoRA）。
# Launch train.py with the deepspeed launcher (full training; add --use_lora True for LoRA).
# 多余的参数 "$@" 原样传给 train.py，评分器用它指定模型路径、输出目录和 LoRA 开关。
# Extra arguments "$@" go on to train.py: the grader passes the model path, output folder and LoRA switch.
set -euo pipefail
cd "$(dirname "$0")"
# BEGIN SOLUTION
num_gpus=1

deepspeed --num_gpus $num_gpus train.py \
    --deepspeed ./ds_config.json \
    --output_dir="./output/MiniCPM" \
    --per_device_train_batch_size=4 \
    --gradient_accumulation_steps=4 \
    --logging_steps=10 \
    --num_train_epochs=3 \
    --save_steps=100 \
    --learning_rate=1e-4 \
    --save_on_each_node=True \
    "$@"
# END SOLUTION
