try:
    with open("hostile-sparse", "wb") as f:
        f.seek(100 * 1024 ** 3)
        f.write(b"x")
except OSError as exc:
    print("hostile: sparse file refused:", exc)
block = b"x" * (1 << 20)
try:
    with open("hostile-real", "wb") as f:
        while True:
            f.write(block)
except OSError as exc:
    print("hostile: real data refused:", exc)
