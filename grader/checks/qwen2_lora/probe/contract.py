"""The contract between qwen2_lora's probe and its checks: per mode, the inputs the judge sends
(input.json) and the steps the probe records, each with the shape of its value (grader/probes/shapes.py).
The checks read no other step, each at its shape; run_probe sends no other input. A value that comes
from the student's own code stays loose (object) where the check itself says what is wrong with it."""
if __package__:   # the judge: grader.checks.<name>.probe.contract
    from grader.probes.shapes import GENERATE_CALLS, NUMBER, Mode
else:             # inside the sandbox, where the probe imports it as `contract` beside the shared modules
    from shapes import GENERATE_CALLS, NUMBER, Mode  # type: ignore[no-redef]

TRAINING_ARGS = {"per_device_train_batch_size": object, "gradient_accumulation_steps": object,
                 "num_train_epochs": NUMBER, "max_steps": (int, None), "learning_rate": NUMBER, "logging_steps": NUMBER}

MODES = {
    # the records, process_func on the judge's fresh records with the real tokenizer, the configs
    "inspect": Mode(
        inputs={"fresh_records": [{"instruction": str, "input": str, "output": str}], "real_tokenizer": str},
        steps={"import_train": object, "constants": dict, "records": list, "process_func": object,
               "lora_config": dict, "training_args": TRAINING_ARGS}),
    # the student's own train() under the profile's overrides on a sample, then infer.py's answer
    "train": Mode(
        inputs={"overrides": dict, "question": str, "seeds": [int], "sample_distinct": int, "sample_rows": int,
                "exposures": int, "sample_seed": int},
        steps={"import_train": object, "model_dir": object, "training_args": object, "sample": {"records": list},
               "train": dict, "import_infer": object, "answer": str, "answer_generate_calls": GENERATE_CALLS}),
}
