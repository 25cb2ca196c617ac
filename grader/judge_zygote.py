"""A judge process with pytest, torch, transformers and peft already imported, which forks one
child per grading: the child runs the checks with ``pytest.main`` as ``python -m pytest`` would,
without paying the interpreter's start and those imports (2-4 s of a grading's judge time).

The runner (grader/runner.py) starts one zygote per process on first use and falls back to a plain
``python -m pytest`` child whenever the zygote cannot serve a grading (it failed to start, it died,
or the grading's environment differs from the zygote's in a variable read at import time).

Protocol: JSON lines. The runner's first line is a key of its own, then each request is {"key", "id",
"args", "env", "cwd", "log", "private_mounts"}; the zygote answers {"id", "pid"} when the child is
forked, then {"id", "exit"} when it ends, and {"refused": why} to a line that is not a request with
the key (never dying of it). The zygote stays single-threaded (a fork from a threaded process is
unsafe) and reaps children on SIGCHLD. Everything here is the judge's own code: student code only
ever runs inside the sandbox. It is also out of student code's reach where no sandbox stands between
them (the process mode, the same uid): not dumpable, so /proc/<pid>/fd/0 cannot be opened, and a
line written into the runner's end of the pipe without the key starts nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import hmac
import itertools
import json
import os
import queue
import secrets
import selectors
import signal
import subprocess
import sys
import threading

from grader.sandbox import _kill_group   # the same SIGKILL of a process group as a sandbox's end
from grader.warm import reaped   # the same wait for ended children as the warm interpreter server's

PRELOAD = ("pytest", "numpy", "torch", "transformers", "peft", "safetensors.torch", "jinja2")
# variables a preloaded library reads when it is imported: a grading whose value differs from the
# zygote's gets a plain child (CUDA_VISIBLE_DEVICES is read when CUDA starts, never in the zygote)
IMPORT_TIME = ("HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "OPENBLAS_", "PYTHON", "TOKENIZERS_")
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
MAX_LINE = 1 << 24
REQUEST = {"id": int, "args": list, "env": dict, "cwd": str, "log": str, "private_mounts": bool}
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def import_time_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME)}


class Zygote:
    """The runner's side: start the zygote, ask it for gradings, wait for their ends."""

    def __init__(self, env: dict, cwd: str):
        self.env = import_time_env(env)
        self.proc = subprocess.Popen([sys.executable, "-m", "grader.judge_zygote"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        self._key = secrets.token_hex(16)   # never in an environment or on a command line
        self.proc.stdin.write((self._key + "\n").encode())
        self.proc.stdin.flush()
        self._write = threading.Lock()
        self._waiting: dict[int, queue.Queue] = {}
        self._ids = itertools.count()
        self._ready = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        if self._ready.get(timeout=120) is not True:
            raise RuntimeError("the judge zygote did not start")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def serves(self, env: dict) -> bool:
        return self.alive and import_time_env(env) == self.env

    def _read(self):
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
                self._ready.put(True)
            elif message.get("id") in self._waiting:
                self._waiting[message["id"]].put(message)
        self._ready.put(False)
        for waiting in list(self._waiting.values()):   # the zygote died: nobody will answer
            waiting.put({"dead": True})

    def run(self, args: list[str], env: dict, cwd: str, log: str, private_mounts: bool,
            timeout: float) -> tuple[int | None, bool]:
        """(pytest's exit code or None, whether it ran past ``timeout`` and was killed)."""
        ident = next(self._ids)
        answers = self._waiting[ident] = queue.Queue()
        try:
            try:
                with self._write:
                    self.proc.stdin.write((json.dumps({"key": self._key, "id": ident, "args": args, "env": env,
                                                       "cwd": cwd, "log": log, "private_mounts": private_mounts})
                                           + "\n").encode())
                    self.proc.stdin.flush()
                started = answers.get(timeout=60)
            except (OSError, ValueError, queue.Empty):   # it died before it could answer
                return None, False
            if "pid" not in started:
                return None, False
            try:
                ended = answers.get(timeout=timeout)
            except queue.Empty:
                _kill_group(started["pid"])
                with contextlib.suppress(queue.Empty):   # its end, reaped by the zygote
                    answers.get(timeout=60)
                return None, True
            return ended.get("exit"), False
        finally:
            del self._waiting[ident]

    def close(self):
        if self.alive:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------- the zygote itself

def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)   # no /proc/<pid>/fd, mem or environ for another process of the uid


def parse_request(line: bytes, key: str) -> dict | str:
    """The request on ``line``, or why it is refused (not JSON, not a request, not the runner's key)."""
    try:
        request = json.loads(line)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(request, dict) or not hmac.compare_digest(str(request.get("key", "")), key):
        return "not the runner's key"
    if not all(isinstance(request.get(k), t) and not (t is int and isinstance(request[k], bool))
               for k, t in REQUEST.items()) or not all(isinstance(a, str) for a in request["args"]):
        return "not a request"
    return request


def _private_mounts() -> None:
    """What `unshare --mount --propagation private` does for the plain child."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "unshare/mount for a private mount namespace")


def _child(request: dict) -> None:
    """In the forked child: become the grading's pytest process; never returns."""
    code = 3
    try:
        os.setsid()
        _die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request["private_mounts"]:
            _private_mounts()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, min(os.sysconf("SC_OPEN_MAX"), 65536))
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]   # as `python -m pytest` started there has it
        os.environ.clear()
        os.environ.update(request["env"])
        import random

        import numpy
        random.seed()        # a forked child would otherwise repeat the zygote's random state
        numpy.random.seed()
        import pytest
        sys.argv = ["pytest", *request["args"]]
        code = int(pytest.main(request["args"]))
    except BaseException:   # noqa: BLE001  the log says why; the runner reports an internal error
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:   # noqa: BLE001
                pass
        os._exit(code)


def main() -> None:
    _die_with_parent()
    protocol = os.dup(1)   # the answers' own channel: a library that prints cannot garble it
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    for name in PRELOAD:
        __import__(name)
    import transformers
    transformers.AutoTokenizer, transformers.AutoModelForCausalLM   # noqa: B018  load the lazy modules now
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    children: dict[int, int] = {}   # pid -> request id

    def send(message: dict) -> None:   # os.write: nothing buffered for a forked child to inherit
        os.write(protocol, (json.dumps(message) + "\n").encode())

    runner_key, pending = None, b""
    while True:
        for ready, _ in selector.select():
            if ready.fd == wake_r:
                os.read(wake_r, 4096)
                continue
            data = os.read(0, 1 << 20)
            if not data:   # the runner is gone
                for pid in children:
                    _kill_group(pid)
                os._exit(0)
            pending += data
            if len(pending) > MAX_LINE and b"\n" not in pending:   # no request is this long: drop it
                pending = b""
                send({"refused": "too long"})
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if runner_key is None:   # the runner's first line: its key
                    runner_key = line.decode("ascii", "replace").strip()
                    send({"ready": True})
                    continue
                request = parse_request(line, runner_key)
                if isinstance(request, str):
                    send({"refused": request})
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children[pid] = request["id"]
                send({"id": request["id"], "pid": pid})
        for pid, status in reaped():
            if pid in children:
                send({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
