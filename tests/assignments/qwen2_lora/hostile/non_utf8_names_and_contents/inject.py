import json
import os
import sys

out = os.environ.get("GRADER_OUT", ".")
for folder in (b".", os.fsencode(out)):
    for name in (b"\xff\xfe-hostile", b"caf\xe9.txt", b"\xed\xa0\x80"):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(b"\xff\xfe\x00\x80 \xc3\x28 not UTF-8")
sys.stdout.buffer.write(b"invalid bytes: \xff\xfe\xc3\x28\xed\xa0\x80\n")
sys.stdout.flush()
# Lone surrogates: valid JSON escapes, but no UTF-8 encoder accepts them.
error = "hostile: \udc80\ud800 " + os.fsdecode(b"\xff\xfe \xd6\xd0")
with open(os.path.join(out, "result.json"), "w") as f:
    json.dump({"steps": {"import_train": {"ok": False, "error": error}}}, f)   # ensure_ascii: \udc80 escapes
os._exit(0)
