import os
import sys
import sysconfig

targets = ["@@CANARY_DIR@@", "@@REPO@@", "@@REPO@@/reference/qwen2_lora", "@@REPO@@/grader/checks",
           "/tmp", os.path.expanduser("~"), "/root", sys.prefix, sysconfig.get_paths()["purelib"],
           os.path.dirname(sys.executable), "/grader/probes", "/"]
for i, folder in enumerate(targets):
    try:
        with open(os.path.join(folder, f"hostile-canary-{i}"), "w") as f:
            f.write("written from inside the sandbox")
        print("hostile: wrote into", folder)
    except OSError as exc:
        print("hostile:", exc)
