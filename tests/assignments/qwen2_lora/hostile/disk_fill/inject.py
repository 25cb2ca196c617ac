import os

block = os.urandom(1 << 20)   # incompressible, in case some filesystem compresses
for folder in (".", os.environ.get("GRADER_OUT", "."), "/tmp"):
    try:
        with open(os.path.join(folder, "hostile-fill"), "wb") as f:
            while True:
                f.write(block)
    except OSError as exc:
        print("hostile: stopped in", folder, exc)
