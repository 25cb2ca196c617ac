import os

child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["hostile-canary-sleeper", "600"])
    os._exit(0)
os.waitpid(child, 0)
