"""A launcher that never returns: deaf to the polite signals, spinning, with a child in its own session."""
import os
import signal
import time

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    while True:
        time.sleep(1)
while True:
    pass
