import glob
import os


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\0", b"\n").decode("utf-8", "replace")
    except OSError as exc:
        return f"<{exc}>"


LEAK = {"os.environ": "\n".join(f"{k}={v}" for k, v in os.environ.items()),
        "secret file": _read("@@SECRET_FILE@@"), "/proc/1/environ": _read("/proc/1/environ")}
for _path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
    LEAK[_path] = _read(_path)
print("hostile:", LEAK)
# what looks like a secret goes first into the records and last into the error: the report shows both
SECRETISH = [line for text in LEAK.values() for line in text.splitlines()
             if any(word in line.upper() for word in ("SECRET", "KEY", "PASS", "TOKEN"))]
