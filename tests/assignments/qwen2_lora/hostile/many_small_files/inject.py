import os

os.makedirs("hostile-files", exist_ok=True)
for i in range(1_000_000):
    try:
        with open(f"hostile-files/{i}", "wb") as f:
            f.write(b"x")
    except OSError as exc:
        print("hostile: stopped after", i, "files:", exc)
        break
