# After the reference: train() still trains, then its adapter_config.json is nested past the parser's limit.
import os as _os

_train = train


def train(model_dir, output_dir=LORA_PATH, args=None):
    trainer = _train(model_dir, output_dir, args)
    with open(_os.path.join(output_dir, "adapter_config.json"), "w") as f:
        f.write('{"peft_type": "LORA", "r": ' + "[" * 5000 + "]" * 5000 + "}")
    return trainer
