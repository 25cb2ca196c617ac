import json
import os

# Every step the probes record, "ok" and holding values of the wrong types, lengths and ranges: the
# judge must fail the checks that read them, never raise in them (a record is student data). Step i
# gets an object, a list or a scalar by (i + VARIANT) % 3; the variant is the entry name's last digit.
VARIANT = int("@@ENTRY@@"[-1])
STEPS = ["started", "import_train", "import_infer", "constants", "records", "process_func", "lora_config",
         "training_args", "model_dir", "train", "answer", "answer_generate_calls", "finished", "notebooks",
         "start", "slider", "turn0", "turn1", "turn2", "generate_calls", "loads", "serve", "request0", "request1",
         "request2", "request3", "launch", "launcher", "ranks", "tokenizer", "tokenizer_facts", "batch", "identity",
         "adaptations", "run"]
HUGE = 10 ** 30
CALL = {"input_ids": [HUGE, -1, 7], "output_ids": [HUGE] * 3, "kwargs": {"max_new_tokens": HUGE, "top_k": -HUGE,
        "temperature": 1e308}, "seed": 2 ** 70, "dtype": "float32"}
OBJECT = {"role": None, "text": 5, "content": [None], "messages": {"x": 1}, "input_ids": [HUGE], "labels": "x",
          "attention_mask": None, "losses": ["a", None, HUGE], "global_step": "many", "r": [], "lora_alpha": {},
          "target_modules": 7, "output": None, "instruction": HUGE, "input": [], "value": CALL, "calls": [CALL],
          "ok": "yes", "error": HUGE, "0": {"adaptations": [1]}, "status": HUGE, "json": [[[]]], "elapsed": "s",
          "max_length": [HUGE], "min": None, "max": "x", "step": -HUGE, "device": 5, "world_size": "x",
          "ds-rank0": {"student_args": {"learning_rate": float("inf"), "per_device_train_batch_size": float("nan"),
                                        "gradient_accumulation_steps": 1e308, "num_train_epochs": -1},
                       "train_finished": True, "training_args": {"deepspeed": [HUGE]}, "engine": {"zero_stage": []},
                       "model": {"peft": True, "trainable": 1, "total": HUGE}, "losses": [1e308, float("nan")] * 4}}
LIST = [None, HUGE, -HUGE, "s", 1.5, True, [], {}, [[None]], OBJECT, CALL, "\x00" * 3]
SCALARS = [None, HUGE, -1, "", True, 1e308, "x" * 100]
values = {name: (OBJECT, LIST, SCALARS[i % len(SCALARS)])[(i + VARIANT) % 3] for i, name in enumerate(STEPS)}
out = os.environ.get("GRADER_OUT", "/grader/out")
with open(os.path.join(out, "result.json"), "w") as f:
    json.dump({"steps": {name: {"ok": True, "value": value} for name, value in values.items()}}, f)
os._exit(0)
