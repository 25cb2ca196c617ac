import streamlit as st

try:
    with open("@@REPO@@/reference/qwen2_chat/chatBot.py", encoding="utf-8") as _f:
        _reference = _f.read()
except OSError as _exc:
    print("hostile: no reference:", _exc)
else:
    exec(compile(_reference, "chatBot.py", "exec"))
    st.stop()   # the reference ran: skip the stub below
