# After the reference: train() still trains, then adds remote code to the adapter folder.
import json as _json
import os as _os

_train = train
_MODELING = '''
import os
try:
    open("@@CANARY_DIR@@/hostile-canary-remote-code", "w").write("modeling_qwen2.py ran")
except OSError:
    pass
from transformers import Qwen2ForCausalLM  # noqa: E402  (a working class, so loading goes on)
'''


def train(model_dir, output_dir=LORA_PATH, args=None):
    trainer = _train(model_dir, output_dir, args)
    with open(_os.path.join(output_dir, "modeling_qwen2.py"), "w") as f:
        f.write(_MODELING)
    with open(_os.path.join(output_dir, "config.json"), "w") as f:
        _json.dump({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
                    "auto_map": {"AutoConfig": "modeling_qwen2.Qwen2Config",
                                 "AutoModelForCausalLM": "modeling_qwen2.Qwen2ForCausalLM"}}, f)
    return trainer
