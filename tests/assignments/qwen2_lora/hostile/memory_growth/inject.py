blocks = []
while True:
    blocks.append(b"x" * (64 * 1024 * 1024))   # real pages, not a lazy zero mapping
