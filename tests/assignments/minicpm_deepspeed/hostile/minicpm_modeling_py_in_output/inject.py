# After main() has trained and saved (this runs in each rank after the reference's own
# `if __name__ == "__main__": main()`): remote code and a pickle beside the saved weights.
if __name__ == "__main__":
    import json as _json
    import os as _os
    import pickle as _pickle
    import sys as _sys

    _out = [a for i, a in enumerate(_sys.argv) if _sys.argv[i - 1] == "--output_dir"][-1]
    _canary = "@@CANARY_DIR@@/hostile-canary-"
    with open(_os.path.join(_out, "modeling_minicpm.py"), "w") as _f:
        _f.write(f'open("{_canary}remote-code", "w").write("modeling_minicpm.py ran")\n'
                 "from transformers.models.llama.modeling_llama import *  # noqa\n")

    class _Payload:
        def __reduce__(self):
            return (exec, (f'open("{_canary}pickle", "w").write("pytorch_model.bin was unpickled")',))

    with open(_os.path.join(_out, "pytorch_model.bin"), "wb") as _f:
        _pickle.dump({"model.embed_tokens.weight": _Payload()}, _f)
    _config = _os.path.join(_out, "config.json")
    _cfg = _json.load(open(_config)) if _os.path.exists(_config) else {"model_type": "minicpm"}
    _cfg["auto_map"] = {"AutoConfig": "modeling_minicpm.LlamaConfig",
                        "AutoModelForCausalLM": "modeling_minicpm.LlamaForCausalLM"}
    with open(_config, "w") as _f:
        _json.dump(_cfg, _f)
