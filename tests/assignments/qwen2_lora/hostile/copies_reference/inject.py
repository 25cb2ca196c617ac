# After the stub's own definitions: the reference's replace them, if it can be read.
try:
    with open("@@REPO@@/reference/qwen2_lora/train.py", encoding="utf-8") as _f:
        exec(compile(_f.read(), "train.py", "exec"), globals())
except OSError as _exc:
    print("hostile: no reference:", _exc)
