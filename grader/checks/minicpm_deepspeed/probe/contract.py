"""The contract between minicpm_deepspeed's probe and its checks: per mode, the inputs the judge sends
(input.json) and the steps the probe records, each with the shape of its value (grader/probes/shapes.py).
The checks read no other step, each at its shape; run_probe sends no other input. A value that comes
from the student's own code stays loose (object) where the check itself says what is wrong with it."""
if __package__:   # the judge: grader.checks.<name>.probe.contract
    from grader.probes.shapes import ENCODING, NUMBER, Mode, Opt
else:             # inside the sandbox, where the probe imports it as `contract` beside the shared modules
    from shapes import ENCODING, NUMBER, Mode, Opt  # type: ignore[no-redef]

# what a launch of train.sh left: its exit and output, and our hook's facts from inside the ranks
LAUNCH = {"returncode": (int, None), "output": str}
RANK = {"train_finished": Opt(object), "training_args": Opt((dict, None)), "engine": Opt((dict, None)),
        "model": Opt((None, {"peft": Opt(object), "trainable": Opt(NUMBER), "total": Opt(NUMBER)})),
        "losses": Opt(object), "student_args": Opt(object)}
RANKS = (None, {"ds-rank0": Opt((None, RANK))})
RECORD = {"instruction": str, "input": str, "output": str}
LAUNCH_INPUTS = {"model_path": str, "device": str, "dataset": [RECORD], "overrides": dict,
                 "scheduler": (dict, None), "torch_extensions": str, "cpu_info": (dict, None),
                 "timeout_s": NUMBER}
LAUNCH_STEPS = {"train_py": object, "launch": LAUNCH, "launcher": object, "ranks": RANKS}

MODES = {
    # build_tokenizer() and process_func on the judge's fresh records, as data
    "inspect": Mode(
        inputs={"model_path": str, "device": str, "fresh_records": [RECORD], "identity_record": RECORD},
        steps={"import_train": object, "constants": dict, "tokenizer": object,
               "tokenizer_facts": {"padding_side": Opt((str, None)), "pad_token_id": Opt((int, None))},
               "process_func": [ENCODING], "identity": {"input_ids": [int]}}),
    # the student's own `bash train.sh`, LoRA or full, with the grader's arguments
    "lora": Mode(inputs=LAUNCH_INPUTS, steps=LAUNCH_STEPS),
    "full": Mode(inputs=LAUNCH_INPUTS, steps=LAUNCH_STEPS),
}
