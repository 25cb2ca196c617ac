"""Warm interpreters: a server of ours with torch, transformers, peft, datasets, deepspeed, Streamlit's
AppTest and FastAPI already imported serves the `python` processes of sandboxed runs, forking one per
process, so a grading no longer pays 2-6 s of imports for each interpreter it starts (issue 30:
benchmarks/startup_floor.py). It serves the probe itself and what the student's code starts: the
`deepspeed` launcher, deepspeed.launcher.launch and each rank of a DeepSpeed launch.

How one process is served (bubblewrap modes, the cpu profile; every other run starts cold as before):
- the run's sandbox has our client first on PATH as `python`, `python3` and `deepspeed`
  (grader/probes/warm_client.py, its copies in the server's bin/ folder, shown at INSIDE_BIN); it
  connects to the run's own socket (INSIDE_RUN/sock: bound by the judge for this run alone, in its own
  mount namespace, handed to the server listening, shown only in this run's sandbox), sends its argv,
  environment, working folder, parent pid and its stdin/stdout/stderr, and then only waits, forwarding
  the signals it gets; its exit is the served process's exit. The client at the top of a bubblewrap
  run stays root, so that nothing the student's code signals (`kill -1`) can end it.
- the server forks a helper per connection, which takes the connecting process's own namespaces
  (SO_PEERPIDFD: the kernel's, not a claim of the client) after joining the run's cgroups (which the
  judge named when it opened the run), and forks the served process there: it drops to the run's
  uid with no capabilities and no_new_privs, as setpriv does for a cold run, takes the client's
  descriptors, environment and folder, and runs the script, module or -c code as `python` would
  (its os.getppid() answers the client's parent: the process it stands for).
  The helper reports its exit and, should the client die (a SIGKILL), kills it and its group.
- anything the server does not serve exactly as a fresh interpreter would (another interpreter
  option, a variable that the preloaded libraries read when imported set otherwise, a kernel without
  SO_PEERPIDFD) is answered "cold": the client execs the real interpreter, as before.

Nothing of one run reaches another: each served process lives in its run's namespaces, cgroups and
uid, forked from a server that never ran student code; what it inherits from the server is the
imported libraries' state, the same in every fork. The server is the judge's own code; the control
socket is in a 0700 folder of the judge's and takes only the judge's uid.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PRELOAD = ("numpy", "torch", "transformers", "peft", "datasets", "deepspeed", "safetensors.torch",
           "streamlit.testing.v1", "fastapi", "uvicorn")
# imported where this DeepSpeed has it: deepspeed.initialize imports Muon (its torch.compile
# decorators load inductor) to check a ZeRO optimizer, 2.6 s of every DeepSpeed rank's start
OPTIONAL = ("deepspeed.runtime.zero.muon.muon_optimizer",)
# where the client and the run's socket appear inside a sandbox
INSIDE_BIN = "/grader/warm-bin"
INSIDE_RUN = "/grader/warm"
LINKS = "/tmp/.grader-warm"   # client pid -> served pid, inside the sandbox, for the run clock
PROGRAMS = ("python", "python3", f"python3.{sys.version_info.minor}", "deepspeed")
# variables the preloaded libraries read when imported (and Python at start-up): a process whose
# value differs from the server's is started cold
IMPORT_TIME = ("HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "OPENBLAS_", "GOMP_", "KMP_",
               "PYTHON", "TOKENIZERS_", "DS_", "XDG_", "HOME", "LANG", "LC_", "STREAMLIT_", "NUMPY_")
# ... but these are read when used, not on import (PYTHONPATH: the served process's path is built from it)
READ_LATER = ("PYTHONPATH", "TORCH_EXTENSIONS_DIR", "DS_ACCELERATOR")
SO_PEERPIDFD = 77
CLONE = {"mnt": 0x00020000, "cgroup": 0x02000000, "uts": 0x04000000, "ipc": 0x08000000, "user": 0x10000000,
         "pid": 0x20000000, "net": 0x40000000}
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
MAX_REQUEST = 8 << 20


def import_time_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME) and k not in READ_LATER}


# ------------------------------------------------------------------------------ the judge's side

class WarmServer:
    """The judge's handle on a server: started by the runner (shared by every grading of a run through
    GRADER_WARM_CONTROL) or by a test; a sandboxed run opens its socket through it (WarmRun). ``env``:
    the sandbox's own start (grader.sandbox.sandbox_env), as a served process must find it; ``drop``:
    setpriv's argv to the run's uid (grader.sandbox.DROP_TO_NOBODY), for the client at a run's top."""

    def __init__(self, env: dict, drop: list[str]):
        self.folder = Path(tempfile.mkdtemp(prefix="grader-warm-"))   # 0700, the judge's: bwrap binds bin/
        self.bin = self.folder / "bin"
        self.bin.mkdir()
        self.bin.chmod(0o755)
        write_clients(self.bin, drop)
        self.control = str(self.folder / "control")
        self.proc = subprocess.Popen([sys.executable, "-s", "-m", "grader.warm", self.control],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd="/")
        ready = self.proc.stdout.readline()   # after the imports: a minute at most on a cold disk
        if ready.strip() != b"ready":
            self.close()
            raise RuntimeError("the warm interpreter server did not start")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class WarmRun:
    """One sandboxed run served by a server: its socket at ``folder``/sock (shown at INSIDE_RUN), open
    while the run lasts. The connection to the server is this run's own: closing it closes the run."""

    def __init__(self, control: str, folder: Path, mode: str, uid: int | None, cgroups: list[str], rlimits: dict):
        self.folder = folder
        folder.mkdir(mode=0o700, exist_ok=True)
        # the socket is made here, in the judge's mount namespace (the work folder may be a tmpfs of
        # the grading's own that the server cannot see), and handed to the server listening
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(folder / "sock"))
            os.chmod(folder / "sock", 0o600)
            if uid is not None:
                os.chown(folder / "sock", uid, uid)
                os.chown(folder, uid, uid)
            listener.listen(64)
            self.conn = socket.socket(socket.AF_UNIX)
            self.conn.settimeout(30)
            self.conn.connect(control)
            spec = {"mode": mode, "uid": uid, "cgroups": cgroups, "rlimits": rlimits}
            socket.send_fds(self.conn, [(json.dumps(spec) + "\n").encode()], [listener.fileno()])
        answer = json.loads(self.conn.makefile("rb").readline() or b"{}")
        if not answer.get("ok"):
            self.conn.close()
            raise RuntimeError(f"the warm server refused the run: {answer.get('error', 'no answer')}")

    def close(self) -> None:
        self.conn.close()   # the server stops serving the run


def write_clients(folder: Path, drop: list[str]) -> None:
    """The client under each name it answers to, each with this interpreter in its shebang."""
    source = (Path(__file__).resolve().parent / "probes" / "warm_client.py").read_text(encoding="utf-8")
    real = {name: sys.executable for name in PROGRAMS}
    real["deepspeed"] = str(Path(sys.executable).parent / "deepspeed")
    header = (f"#!{sys.executable} -sSE\nREAL = {json.dumps(real)}\nSOCKET = {INSIDE_RUN + '/sock'!r}\n"
              f"DROP = {json.dumps(drop)}\n")
    for name in PROGRAMS:
        path = folder / name
        path.write_text(header + source, encoding="utf-8")
        path.chmod(0o755)


# ------------------------------------------------------------------------------ the server

_libc = ctypes.CDLL(None, use_errno=True)
_KEEP: list = []   # the server's sockets: detached in a served process, never closed under its code
_HELPERS: dict[int, dict] = {}   # helper pid -> its run's spec
MAX_HELPERS = 256   # a run's processes served at once: beyond, they start cold (a connection flood forks no more)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def main(control: str) -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    protocol = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.dup2(1, 2)   # what the libraries print while importing is not a served process's
    started_with = dict(os.environ)
    for name in PRELOAD:
        __import__(name)
    for name in OPTIONAL:
        try:
            __import__(name)
        except ImportError:
            pass
    import transformers
    from transformers import Trainer  # noqa: F401  the lazy modules a grading uses
    transformers.AutoTokenizer, transformers.AutoModelForCausalLM   # noqa: B018
    # what the imports set in the environment (torch: TORCHINDUCTOR_CACHE_DIR ...): a served process
    # gets them as a cold one would after its imports, where its own environment does not set them
    set_on_import = {k: v for k, v in os.environ.items() if started_with.get(k) != v}
    own = set(os.environ.get("PYTHONPATH", "").split(os.pathsep))
    base_path = [p for p in sys.path[1:] if p not in own]   # without the server's folder (-m: its cwd) and PYTHONPATH
    old = os.umask(0o077)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(control)
    os.umask(old)
    listener.listen(64)
    _KEEP.append(listener)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("control-listener", None))
    selector.register(wake_r, selectors.EVENT_READ, ("wake", None))
    os.write(protocol, b"ready\n")
    while True:
        for key, _ in selector.select():
            kind, data = key.data
            if kind == "wake":
                os.read(wake_r, 4096)
                _reap()
            elif kind == "control-listener":
                with contextlib.suppress(OSError):
                    conn, _ = listener.accept()
                    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
                    if uid != os.getuid():
                        conn.close()
                        continue
                    _KEEP.append(conn)
                    selector.register(conn, selectors.EVENT_READ, ("control", {"run": None}))
            elif kind == "control":
                _control(selector, key.fileobj, data, base_path, started_with, set_on_import)
            elif kind == "run":
                with contextlib.suppress(OSError):
                    conn, _ = key.fileobj.accept()
                    _KEEP.append(conn)
                    _start_helper(conn, data)
                    _KEEP.remove(conn)
                    conn.close()


def _control(selector, conn, state: dict, base_path: list[str], server_env: dict, set_on_import: dict) -> None:
    """A judge's run: one JSON line with the run's listening socket; the connection's end closes it."""
    try:
        chunk, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    except OSError:
        chunk, fds = b"", []
    if not chunk:
        selector.unregister(conn)
        _KEEP.remove(conn)
        conn.close()
        if state["run"] is not None:
            selector.unregister(state["run"])
            _KEEP.remove(state["run"])
            state["run"].close()
    if not chunk or state["run"] is not None or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return   # one run a connection, opened by its first message
    run = socket.socket(fileno=fds[0])
    try:
        spec = json.loads(chunk.split(b"\n", 1)[0])
        if run.family != socket.AF_UNIX or not isinstance(spec, dict):
            raise ValueError("not a run")
    except (ValueError, OSError) as exc:
        run.close()
        conn.sendall((json.dumps({"error": repr(exc)}) + "\n").encode())
        return
    spec["base_path"], spec["server_env"], spec["set_on_import"] = base_path, server_env, set_on_import
    _KEEP.append(run)
    state["run"] = run
    selector.register(run, selectors.EVENT_READ, ("run", spec))
    conn.sendall(b'{"ok": true}\n')


def reaped():
    """(pid, wait status) of each child that has ended, without waiting for the others (a forking
    server's SIGCHLD: this one's helpers, the judge zygote's gradings)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def _reap() -> None:
    for pid, _ in reaped():
        spec = _HELPERS.pop(pid, None)
        if spec is not None:
            spec["helpers"] -= 1


def _start_helper(conn: socket.socket, spec: dict) -> None:
    """Fork the helper that serves this connection (the server itself never waits on a client)."""
    if spec.setdefault("helpers", 0) >= MAX_HELPERS:
        return   # answered nothing, the client starts cold
    try:
        pidfd = conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        return   # a kernel before 6.5
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _helper(conn, pidfd, spec)
        except BaseException:   # noqa: BLE001  the client sees the connection end and starts cold
            code = 1
        os._exit(code)
    spec["helpers"] += 1
    _HELPERS[pid] = spec
    os.close(pidfd)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The client's request: a 4-byte length, then JSON, with its three descriptors."""
    conn.settimeout(30)
    data, fds, _, _ = socket.recv_fds(conn, 4, 3)
    if len(data) != 4 or len(fds) != 3:
        raise ValueError("not a request")
    size = struct.unpack("!I", data)[0]
    if size > MAX_REQUEST:
        raise ValueError("too long")
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("cut short")
        body += chunk
    return json.loads(body), list(fds)


def refusal(request: dict, server_env: dict, set_on_import: dict | None = None) -> str | None:
    """Why this process must start cold, or None when the server serves it exactly. ``set_on_import``:
    what the server's imports set in its environment (a served process's children inherit it)."""
    if not isinstance(request, dict) or not isinstance(request.get("env"), dict) or \
            not all(isinstance(k, str) and isinstance(v, str) for k, v in request["env"].items()):
        return "not a request"
    if request.get("run") not in ("script", "module", "code") or not isinstance(request.get("target"), str) or \
            not isinstance(request.get("args"), list) or not all(isinstance(a, str) for a in request["args"]) or \
            not isinstance(request.get("cwd"), str) or not isinstance(request.get("program"), str) or \
            not isinstance(request.get("ppid"), int) or not isinstance(request.get("umask", 0), int):
        return "not a request"
    wanted = {k: v for k, v in import_time_env(request["env"]).items() if (set_on_import or {}).get(k) != v}
    have = import_time_env(server_env)
    if wanted != have:
        return "variables read at import differ: " + ", ".join(sorted(k for k in set(wanted) | set(have)
                                                                       if wanted.get(k) != have.get(k)))
    accelerator = request["env"].get("DS_ACCELERATOR")
    if accelerator not in (None, "", "cpu"):
        return "another DeepSpeed accelerator"
    return None


def _helper(conn: socket.socket, pidfd: int, spec: dict) -> None:
    # the run's cgroups first: its limits hold the helper too, and its end kills it
    for path in spec["cgroups"]:   # (before the mount namespace hides /sys/fs/cgroup)
        with open(os.path.join(path, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
    request, fds = _receive(conn)
    why = refusal(request, spec["server_env"], spec["set_on_import"])
    if why:
        conn.sendall((json.dumps({"cold": why}) + "\n").encode())
        return
    import resource
    for name, (soft, hard) in spec["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    flags = CLONE["mnt"] | CLONE["net"] | CLONE["ipc"] | CLONE["uts"] | CLONE["pid"] | CLONE["cgroup"]
    if spec["mode"] == "bubblewrap-userns":
        flags |= CLONE["user"]
    _check(_libc.setns(pidfd, flags), "setns")
    os.close(pidfd)
    child = os.fork()
    if child == 0:
        try:
            _become(conn, request, fds, spec)
        except BaseException as exc:   # noqa: BLE001  it never reached the student's code: say why
            with contextlib.suppress(OSError):
                os.write(2, f"[grader] the warm interpreter could not start this process: {exc!r}\n".encode())
        os._exit(1)
    for fd in fds:
        os.close(fd)
    _watch(conn, child)


def _watch(conn: socket.socket, child: int) -> None:
    """Until the served process ends: its end goes to the client; the client's end kills it."""
    child_fd = os.pidfd_open(child)
    poll = selectors.DefaultSelector()
    poll.register(conn, selectors.EVENT_READ)
    poll.register(child_fd, selectors.EVENT_READ)
    while True:
        for key, _ in poll.select():
            if key.fileobj is conn:
                try:
                    gone = conn.recv(1) == b""
                except OSError:
                    gone = True
                if gone:   # the client was killed: so is what it stood for, with its group
                    with contextlib.suppress(OSError):
                        os.killpg(child, signal.SIGKILL)
                    with contextlib.suppress(OSError):
                        os.kill(child, signal.SIGKILL)
                    poll.unregister(conn)
            else:
                _, status = os.waitpid(child, 0)
                message = ({"signal": -os.waitstatus_to_exitcode(status)} if os.WIFSIGNALED(status)
                           else {"exit": os.waitstatus_to_exitcode(status)})
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps(message) + "\n").encode())
                return


def _drop_privileges(spec: dict) -> None:
    """What setpriv gives a cold run: the run's uid, no capabilities, no_new_privs."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 1:   # EPERM
            raise OSError(1, "capability bounding set")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if spec["mode"] == "bubblewrap":
        os.setgroups([])
        os.setresgid(spec["uid"], spec["uid"], spec["uid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)   # no capability left (in a user namespace, joining gave all)
    _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    # changing uid left it non-dumpable, which the exec of a cold start undoes: its /proc files are its
    # uid's again (the probe's run clock reads a served rank's schedstat), as a fresh process's are
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")


def _become(conn: socket.socket, request: dict, fds: list[int], spec: dict) -> None:
    os.setsid()
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _drop_privileges(spec)
    conn.sendall((json.dumps({"pid": os.getpid()}) + "\n").encode())
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
    for sock in _KEEP:
        sock.detach()
    conn.detach()
    os.closerange(3, 65536)
    os.umask(int(request.get("umask", 0o022)) & 0o777)
    try:
        os.chdir(request["cwd"])
    except OSError:
        os.chdir("/")
    os.environ.clear()
    os.environ.update({**spec["set_on_import"], **request["env"]})
    run(request, spec["base_path"])


def run(request: dict, base_path: list[str]) -> None:
    """Run the script, module or code as `python` would, then end as it would; never returns."""
    import atexit
    import random
    import runpy
    import types

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()   # a fork would otherwise repeat the server's state
    kind, target = request["run"], request["target"]
    sys.executable = f"{INSIDE_BIN}/python"   # what it starts is served too
    # it stands for its client: its parent is the client's (its own is the server's helper, outside)
    os.getppid = lambda: request["ppid"]
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    first = {"script": os.path.dirname(os.path.realpath(target)), "module": os.getcwd(), "code": ""}[kind]
    sys.path[:] = [first, *extra, *base_path]
    sys.path_importer_cache.clear()
    import importlib
    importlib.invalidate_caches()
    sys.argv = [target if kind == "script" else "-c" if kind == "code" else "-m", *request["args"]]
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    _sitecustomize()
    code = 0
    try:
        if kind == "module":
            runpy._run_module_as_main(target, alter_argv=True)
        else:
            import builtins
            import importlib.machinery
            main = types.ModuleType("__main__")
            main.__dict__.update(__builtins__=builtins, __spec__=None, __package__=None, __cached__=None)
            if kind == "script":
                with open(target, "rb") as handle:
                    source = handle.read()
                main.__file__ = target
                main.__loader__ = importlib.machinery.SourceFileLoader("__main__", target)
                compiled = compile(source, target, "exec")
            else:
                compiled = compile(target, "<string>", "exec")
            sys.modules["__main__"] = main
            exec(compiled, main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        code = -signal.SIGINT
    except BaseException:   # noqa: BLE001  as the interpreter prints an uncaught exception
        sys.excepthook(*sys.exc_info())
        code = 1
    with contextlib.suppress(BaseException):
        threading._shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _exit_code(value) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value & 0xFF
    with contextlib.suppress(BaseException):
        print(value, file=sys.stderr)
    return 1


def _sitecustomize() -> None:
    """As site.py does at start-up: a sitecustomize on the path (a DeepSpeed hook's) is imported."""
    sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401
    except ImportError as exc:
        if exc.name != "sitecustomize":
            print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(exc).__name__}: {exc}",
                  file=sys.stderr)
    except Exception as exc:   # noqa: BLE001
        print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(exc).__name__}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
