# After the reference: train() still trains, then the adapter claims a 2**60-byte header.
import os as _os
import struct as _struct

_train = train


def train(model_dir, output_dir=LORA_PATH, args=None):
    trainer = _train(model_dir, output_dir, args)
    with open(_os.path.join(output_dir, "adapter_model.safetensors"), "wb") as f:
        f.write(_struct.pack("<Q", 2 ** 60) + b'{"lora_A": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}')
    return trainer
