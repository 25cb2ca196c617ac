# After the reference: train() still trains, then its adapter becomes a pickle.
import os as _os

_train = train


def train(model_dir, output_dir=LORA_PATH, args=None):
    trainer = _train(model_dir, output_dir, args)
    _os.remove(_os.path.join(output_dir, "adapter_model.safetensors"))
    # open("...hostile-canary-unpickled", "w") when unpickled: proof that someone ran pickle.load on it
    with open(_os.path.join(output_dir, "adapter_model.bin"), "wb") as f:
        f.write(b"cbuiltins\nopen\n(V@@CANARY_DIR@@/hostile-canary-unpickled\nVw\ntR.")
    with open(_os.path.join(output_dir, "adapter_config.json"), "w") as f:
        f.write('{"peft_type": "LORA"}')
    return trainer
