"""Run untrusted student code in a child process the judge does not share anything with.

The judge never imports or unpickles student code. A check asks the sandbox to run one of our
probe scripts (grader/probes/) beside a *copy* of the student's assignment folder; the probe writes
JSON (and, for training, safetensors) into an output folder, and that data is all that comes back.

Strength, best first (the report says which one graded a submission):
- ``bubblewrap`` (judge runs as root): new mount/pid/net/ipc/uts namespaces, only the Python
  environment, the fixtures and the probes bound read-only, the copy and the output folder
  read-write, a private /tmp, no network but its own loopback, and the code runs as the real
  unprivileged uid 65534 (setpriv drops root after bwrap has built the mounts).
- ``bubblewrap-userns`` (judge runs as an ordinary user, e.g. a student's laptop): the same
  namespaces through an unprivileged user namespace; the code keeps the user's own uid.
- ``container`` (judge runs as root where namespaces are refused: an unprivileged Docker container,
  Gradescope, AutoDL, a Kubernetes pod): the code runs as a uid of its own for this run (setpriv),
  confined by Landlock and seccomp (grader/confine.py) to its copy, its output and the read-only
  environment, with TCP only on its own ports; everything that uid started is killed at the end.
- ``process`` (asked for by name, or nothing stronger works): a scrubbed environment, resource
  limits, a temp copy and a process group killed on timeout. No filesystem or network isolation:
  fine for a student's self-check (`grader check`), not for grading a class.

The mode is probed, never assumed (grader/isolation.py): the strongest that really starts a trivial
run on this machine. Every mode shows the code the same world: where there is no mount namespace,
the course's model paths (/root/autodl-tmp/...) are mapped by the course hook, and where there is no
network namespace each run gets ports of its own (GRADER_PORTS) that the hooks put in place of the
ones the code asks for (DeepSpeed's master port, the FastAPI server's). A run that fails before our
probe starts (bwrap's own error, setpriv, Landlock) raises SandboxFailure: the grader's failure,
never the student's.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.gpu import CONTROL_NODES
from grader.probes.run_clock import RunClock, spent

if TYPE_CHECKING:
    from grader.gpu import Gpu

NOBODY = 65534
# what a bubblewrap run's code starts under: uid 65534, no capabilities, no_new_privs
DROP_TO_NOBODY = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
PROBES_DIR = Path(__file__).resolve().parent / "probes"
CONFINE = Path(__file__).resolve().parent / "confine.py"
# the first line every probe prints, before any student code runs (probes/_probe_common.py): a run
# whose output lacks it never reached the probe, so it failed in the sandbox, not in the student's code
STARTED_MARKER = "[grader-probe-started]"
# container mode: each run gets its own uid from this range (a lock file per uid), so runs cannot
# signal, trace or read one another, and "kill every process of this uid" ends exactly one run
RUN_UIDS = range(62000, 62512)
MODES = ("bubblewrap", "bubblewrap-userns", "container", "process")
NAMESPACED = ("bubblewrap", "bubblewrap-userns")   # own mount and network namespaces


class SandboxFailure(RuntimeError):
    """The sandbox itself failed (not the student's code): the message names the fix. No student
    may lose points for it; a class run stops on it (grader/runner.py)."""

# Where things appear inside a bubblewrap sandbox.
INSIDE_SUBMISSION = "/submission"
INSIDE_OUT = "/grader/out"
INSIDE_PROBES = "/grader/probes"
# an assignment's own probe folder (grader/checks/<name>/probe/), started by probes/start.py
INSIDE_OWN_PROBE = "/grader/probe"


def _setting(name: str, default: float, scale: int = 1) -> int:
    """An integer limit from the run's settings (grader/settings.py: GRADER_MEMORY_LIMIT_MB=2048
    gives memory_limit_mb), else the default."""
    from grader.settings import current
    value = getattr(current(), name)
    return int(float(value) * scale) if value else int(default)


def memory_share(cap: int) -> int:
    """``cap``, or three quarters of this machine's memory when it has less (a CI runner)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 16 * 1024 ** 3
    return min(cap, total * 3 // 4)


def default_memory(cap: int = 8 * 1024 ** 3) -> int:
    """A sandboxed run's memory: memory_share(cap) (8 GiB); GRADER_MEMORY_LIMIT_MB overrides it."""
    return _setting("memory_limit_mb", memory_share(cap), 1024 ** 2)


@dataclass
class Limits:
    """What one sandboxed run may use. Each limit uses a mechanism that a torch run survives
    (no RLIMIT_AS: torch reserves far more address space than it uses; see benchmarks/sandbox_cost.py)."""
    # seconds of running (grader/probes/run_clock.py: wall-clock time less the time the run waited for
    # a CPU others held, so a busy machine does not end a correct run), and BACKSTOP times it of wall-clock time
    wall_s: float = 300.0
    max_output_bytes: int = 256 * 1024      # what is kept of stdout+stderr
    max_file_bytes: int = 2 * 1024 ** 3     # RLIMIT_FSIZE: no single file larger
    max_processes: int = field(default_factory=lambda: _setting("process_limit", 1024))
    memory_bytes: int = field(default_factory=default_memory)
    disk_bytes: int = field(default_factory=lambda: _setting("disk_limit_mb", 4 * 1024 ** 3, 1024 ** 2))
    max_files: int = field(default_factory=lambda: _setting("file_limit", 200_000))   # inodes of the tmpfs
    # OpenMP threads of the code; fewer when several sandboxes share the cores (spinning threads
    # of two runs on the same cores cost far more than they give)
    cpu_threads: int = field(default_factory=lambda: _setting("cpu_threads", 2))

    def describe(self, disk_is_capped: bool | None = None) -> str:
        caps = Cgroups.available()
        gib = self.memory_bytes / 1024 ** 3
        memory = f"memory {gib:.3g} GiB" if "memory" in caps else "memory: no limit (no writable memory cgroup)"
        procs = (f"processes {self.max_processes}" if "pids" in caps
                 else f"processes {self.max_processes} (per user, RLIMIT_NPROC)")
        capped = disk_capped() if disk_is_capped is None else disk_is_capped
        disk = (f"disk {self.disk_bytes // 1024 ** 2} MiB / {self.max_files} files" if capped
                else f"disk {self.disk_bytes // 1024 ** 2} MiB / {self.max_files} files (measured as it runs)")
        return (f"{memory}, {procs}, {disk}, output {self.max_output_bytes // 1024} KiB, "
                f"file size {self.max_file_bytes // 1024 ** 2} MiB")


class Cgroups:
    """Child cgroups (v1 or v2) for memory and the number of processes, joined before exec.

    Memory: RLIMIT_AS is not used: it counts address space, not memory, and breaks CUDA and some
    allocators; a cgroup limits what is really used (files on the sandbox's tmpfs count too).
    Processes: pids.max holds a fork storm to this sandbox alone, where RLIMIT_NPROC counts every
    process of the uid on the machine. Each cgroup's events say which limit was hit, so the report
    can say "memory limit exceeded" instead of showing a bare SIGKILL.
    """
    # controller: (v1 limit file, v2 limit file, v1 events file, v2 events file, event counted)
    FILES = {"memory": ("memory.limit_in_bytes", "memory.max", "memory.oom_control", "memory.events", "oom_kill"),
             "pids": ("pids.max", "pids.max", "pids.events", "pids.events", "max")}

    def __init__(self, limits: dict[str, int]):
        self.paths: dict[str, Path] = {}   # controller -> our child cgroup
        made: dict[Path, Path] = {}         # v2: one child serves every controller
        for controller, limit in limits.items():
            base = self._base(controller)
            if base is None:
                continue
            v2 = self._v2(base)
            path = made.get(base) or base / f"grader-{os.getpid()}-{time.monotonic_ns()}"
            try:
                path.mkdir(exist_ok=True)
                (path / self.FILES[controller][1 if v2 else 0]).write_text(str(limit))
            except OSError:
                if path not in self.paths.values():   # v2: never remove one another controller uses
                    with contextlib.suppress(OSError):
                        path.rmdir()
                continue
            made[base] = path
            self.paths[controller] = path

    @staticmethod
    def _v2(base: Path) -> bool:
        return (base / "cgroup.controllers").exists()

    @staticmethod
    def _base(controller: str) -> Path | None:
        """Our own cgroup for this controller, if we may create children in it."""
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        candidates = []
        for line in lines:
            _, controllers, rel = line.split(":", 2)
            if controller in controllers.split(","):
                candidates.append(Path("/sys/fs/cgroup") / controller / rel.lstrip("/"))
            elif controllers == "":
                unified = Path("/sys/fs/cgroup") / rel.lstrip("/")
                with contextlib.suppress(OSError):
                    if controller in (unified / "cgroup.controllers").read_text().split():
                        candidates.append(unified)
        return next((c for c in candidates if c.is_dir() and os.access(c, os.W_OK)), None)

    @classmethod
    @functools.cache
    def available(cls) -> frozenset[str]:
        """Which limits this machine lets a sandbox have (tried once, for the reports)."""
        probe = cls({"memory": 1 << 30, "pids": 1024})
        probe.remove()
        return frozenset(probe.paths)

    def join(self) -> None:  # in the child, before exec
        for path in set(self.paths.values()):
            with contextlib.suppress(OSError):
                (path / "cgroup.procs").write_text(str(os.getpid()))

    def hit(self, controller: str) -> bool:
        """Did this cgroup refuse or kill something for its limit (an OOM kill, a refused fork)?"""
        path = self.paths.get(controller)
        if path is None:
            return False
        v1_events, v2_events, event = self.FILES[controller][2:]
        name = v2_events if self._v2(path.parent) else v1_events
        try:
            counters = dict(line.split() for line in (path / name).read_text().splitlines())
            return int(counters.get(event, 0)) > 0
        except (OSError, ValueError):
            return False

    def processes(self) -> list[int]:
        """Every process in the cgroup now (a run clock's members)."""
        path = next(iter(self.paths.values()), None)
        try:
            return [int(p) for p in (path / "cgroup.procs").read_text().split()] if path else []
        except (OSError, ValueError):
            return []

    def peak_memory(self) -> int | None:
        """The most memory the run used at once (v1 memory.max_usage_in_bytes, v2 memory.peak)."""
        path = self.paths.get("memory")
        if path is None:
            return None
        name = "memory.peak" if self._v2(path.parent) else "memory.max_usage_in_bytes"
        try:
            return int((path / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_all(self, wait_s: float = 10.0) -> None:
        """SIGKILL whatever is still in the cgroup and wait until it is gone: bwrap's --new-session
        takes the sandbox out of our process group, so killpg alone leaves it to die on its own."""
        deadline = time.monotonic() + wait_s
        for path in set(self.paths.values()):
            with contextlib.suppress(OSError):
                (path / "cgroup.kill").write_text("1")   # v2, Linux 5.14+: the whole tree at once
            while time.monotonic() < deadline:
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except (OSError, ValueError):
                    break
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)

    def remove(self) -> None:
        for path in set(self.paths.values()):
            for _ in range(50):   # the last processes may take a moment to leave
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def disk_capped() -> bool:
    """Can work folders be size-capped tmpfs mounts? Only as root inside a private mount
    namespace, which the runner gives its pytest child (see grader/runner.py), so no mount
    ever leaks onto the host."""
    return os.geteuid() == 0 and os.environ.get("GRADER_PRIVATE_MOUNTS") == "1"


def mount_capped(path: Path, limits: "Limits") -> None:
    """A tmpfs of limits.disk_bytes and limits.max_files inodes on ``path`` (empty, created)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o",
                    f"size={limits.disk_bytes},nr_inodes={limits.max_files},mode=0755", "tmpfs", str(path)],
                   check=True, capture_output=True)


def disk_full(path: Path) -> bool:
    """Is the tmpfs at ``path`` (nearly) out of space or inodes?"""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1024 ** 2 or st.f_favail < 16


def release_workdir(path: Path) -> None:
    """Unmount what mount_capped put under ``path``, then delete it."""
    with contextlib.suppress(OSError):
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(path) + "/")), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class SandboxResult:
    returncode: int | None
    output: str                 # stdout and stderr interleaved, capped
    timed_out: bool
    wall_s: float
    output_truncated: bool
    out_dir: Path               # what the probe wrote, on the host
    limits: Limits = field(default_factory=Limits)
    oom_killed: bool = False
    process_limit_hit: bool = False
    disk_full: bool = False
    peak_memory_bytes: int | None = None   # the memory cgroup's high-water mark, where there is one
    ran_s: float | None = None  # the time it ran on the run clock: wall_s less its wait for a CPU others held

    @property
    def problem(self) -> str | None:
        """A bilingual sentence for a student when the run itself went wrong, else None."""
        if self.oom_killed:
            gib = self.limits.memory_bytes / 1024 ** 3
            return f"超出内存限制 {gib:.3g} GiB，进程被终止 / memory limit {gib:.3g} GiB exceeded, the process was killed"
        if self.process_limit_hit:
            return (f"超出进程数限制 {self.limits.max_processes}，无法再创建进程（fork 炸弹？） / process limit "
                    f"{self.limits.max_processes} reached: no more processes could be started (a fork storm?)")
        if self.disk_full:
            mib = self.limits.disk_bytes // 1024 ** 2
            return (f"超出磁盘限制 {mib} MiB / {self.limits.max_files} 个文件 / disk limit {mib} MiB / "
                    f"{self.limits.max_files} files exceeded")
        if self.timed_out:
            zh, en = spent(self.limits.wall_s, self.wall_s, self.ran_s or self.wall_s)
            return f"超时：运行超过 {zh}被终止（死循环或卡住了吗？） / time limit: killed after {en} (an infinite loop or a hang?)"
        if self.returncode is not None and self.returncode < 0:
            sig = -self.returncode
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGXFSZ:
                return (f"文件大小超出限制 {self.limits.max_file_bytes // 1024 ** 2} MiB / "
                        f"file size limit of {self.limits.max_file_bytes // 1024 ** 2} MiB exceeded")
            if sig == signal.SIGXCPU:
                return "CPU 时间超出限制 / CPU time limit exceeded"
            return f"进程被信号 {name} 终止（内存不足？） / the process was killed by {name} (out of memory?)"
        return None


MODE_DESCRIPTIONS = {
    "bubblewrap": "bubblewrap: no network, uid 65534, read-only host view, private /tmp / "
                  "bubblewrap 沙箱：无网络、非特权用户、只读环境",
    "bubblewrap-userns": "bubblewrap-userns (user namespace): no network, read-only host view, your own uid / "
                         "bubblewrap 用户命名空间沙箱：无网络、只读环境",
    "container": "container: a uid of its own, Landlock (read-only host, its own folders), seccomp (no new "
                 "namespaces, no UDP), TCP on its own ports only / 容器模式：独立用户、Landlock 文件限制、seccomp",
    "process": "process (WEAK): a plain child process with limits, no filesystem or network isolation (install "
               "bubblewrap) / 弱隔离：仅子进程与资源限制（请安装 bubblewrap）",
}


def sandbox_env(cpu_threads: int) -> dict[str, str]:
    """The environment every sandboxed run starts with (a namespaced one's paths; the others move HOME
    and the caches into the run's own folder), before the sandbox's own variables."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": str(cpu_threads), "TOKENIZERS_PARALLELISM": "false",
        # OpenMP threads that wait for work spin, by default, for ~300k rounds: when sandboxes
        # share cores (two class-run units, Ray nodes on one machine, a busy CI runner) each spins
        # through the other's time slice. Measured: DeepSpeed's CPU Adam, two gradings at once on
        # 2 cores, 438 s each (44 s alone); with this 100 s each, and no cost alone
        "GOMP_SPINCOUNT": "10000",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1", "DISABLE_TELEMETRY": "1",
        "MPLCONFIGDIR": "/tmp/mpl", "TRITON_CACHE_DIR": "/tmp/triton",
    }


class Sandbox:
    """One place that knows how to start a probe over a copy of a submission folder."""

    def __init__(self, *, ro_paths: list[Path], env: dict[str, str], mode: str, limits: Limits | None = None,
                 course_models: dict[str, Path] | None = None, gpu: Gpu | None = None):
        """``mode``: one of MODES, as grader.isolation resolved it (detect_mode())."""
        self.mode = mode
        self.gpu = gpu   # the unit's own GPU (grader/gpu.py), the only one the code inside can open
        # Paths the student code may read, bound read-only at the same path inside.
        self.ro_paths = [Path(p).resolve() for p in ro_paths if Path(p).exists()]
        # The models where the course's machines keep them (/root/autodl-tmp/qwen/Qwen2-7B-Instruct):
        # inside path -> the grader's folder, shown read-only in a writable /root/autodl-tmp
        self.course_models = {inside: Path(src).resolve() for inside, src in (course_models or {}).items()
                              if Path(src).is_dir()}
        self.env = env
        self.limits = limits or Limits()

    @property
    def description(self) -> str:
        return MODE_DESCRIPTIONS[self.mode]

    def run_probe(self, probe: str | Path, args: list[str], assignment_dir: Path | None, work: Path,
                  limits: Limits | None = None, inputs: dict | None = None) -> SandboxResult:
        """Copy ``assignment_dir`` into ``work``, run the probe there, return what came back: ``probe``
        is a shared probe's name in grader/probes/, or the path of an assignment's own
        (grader/checks/<name>/probe/probe.py: its folder is shown read-only, probes/start.py starts it).

        ``work`` is a new folder of the judge's (a size-capped tmpfs where disk_capped()); the copy
        and the output folder live under it. ``inputs`` reach the probe as out/input.json.
        """
        limits = limits or self.limits
        capped = disk_capped()
        if capped:
            mount_capped(work, limits)
        copy, out = work / "submission", work / "out"
        copy.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / "input.json").write_text(json.dumps(inputs or {}, ensure_ascii=False), encoding="utf-8")
        if assignment_dir is not None and assignment_dir.is_dir():
            try:  # symlinks stay links: they cannot point at anything outside once inside the sandbox
                shutil.copytree(assignment_dir, copy, symlinks=True, dirs_exist_ok=True)
            except (OSError, shutil.Error):
                if not (capped and disk_full(work)):
                    raise
                return SandboxResult(returncode=None, output="", timed_out=False, wall_s=0.0,
                                     output_truncated=False, out_dir=out, limits=limits, disk_full=True)
        return self._execute(probe, args, copy, out, limits, work, capped)

    def try_run(self, work: Path) -> tuple[bool, str]:
        """Start a trivial run in this mode (grader/isolation.py probes each mode with it): did it
        really run, and what did it print."""
        copy, out = work / "submission", work / "out"
        copy.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        try:
            result = self._execute(None, [], copy, out, self.limits, work, False)
        except SandboxFailure as exc:
            return False, str(exc)
        return result.returncode == 0 and STARTED_MARKER in result.output, result.output

    def _execute(self, probe: str | Path | None, args: list[str], copy: Path, out: Path, limits: Limits, work: Path,
                 capped: bool) -> SandboxResult:
        """Run the probe (None: only print the start marker) in this mode over copy/ and out/."""
        with _run_uid(self.mode) as uid:
            if self.mode == "bubblewrap":
                _chown_tree(copy, NOBODY)
                _chown_tree(out, NOBODY)
            own_tmp = work / "tmp"   # TMPDIR and HOME where no private /tmp is mounted
            if self.mode not in NAMESPACED:
                own_tmp.mkdir(exist_ok=True)
            if uid is not None:
                work.chmod(0o711)   # the run's uid passes through; it cannot list the judge's folder
                for folder in (copy, out, own_tmp):
                    _chown_tree(folder, uid)
                    folder.chmod(0o700)   # another run's uid cannot read this one's files
            ports = [] if self.mode in NAMESPACED else _free_ports(2)
            control = self._warm_control()
            warm = (control, work / "warm") if control else None   # the server, the run's socket folder
            argv, env = self._command(probe, args, copy, out, limits, uid=uid, ports=ports, own_tmp=own_tmp,
                                      warm=warm)
            try:
                # cwd: the copy, as bwrap's --chdir gives the namespaced modes
                result = _run_limited(argv, env, limits, out, watch=None if capped else [copy, out, own_tmp],
                                      cwd=copy, warm=(*warm, self.mode) if warm else None)
            finally:
                if uid is not None:
                    _clean_uid(uid)
        result.disk_full = result.disk_full or (capped and disk_full(work))
        if STARTED_MARKER not in result.output and (result.timed_out or result.returncode != 0):
            raise SandboxFailure(sandbox_failure_message(self.mode, result.output))
        return result

    def _warm_control(self) -> str | None:
        """The warm interpreter server's control socket (grader/warm.py: the runner's, handed down in
        GRADER_WARM_CONTROL) where it can serve this sandbox's runs: the namespaced modes, no GPU."""
        control = os.environ.get("GRADER_WARM_CONTROL")
        if not control or self.mode not in NAMESPACED or self.gpu is not None or not os.path.exists(control):
            return None
        return control if Cgroups.available() else None   # the run clock counts the run by its cgroup

    def _command(self, probe: str | Path | None, args: list[str], copy: Path, out: Path, limits: Limits,
                 uid: int | None = None, ports: list[int] | None = None, own_tmp: Path | None = None,
                 warm: tuple[str, Path] | None = None) -> tuple[list[str], dict]:
        env = {**sandbox_env(limits.cpu_threads), **self.env, **(self.gpu.env() if self.gpu else {})}
        python = [sys.executable, "-s"]   # -s: no user site-packages (HOME is the student's)
        if self.mode not in NAMESPACED:
            env["GRADER_SUBMISSION"], env["GRADER_OUT"] = str(copy), str(out)
            env["HOME"] = env["TMPDIR"] = str(own_tmp)
            env["MPLCONFIGDIR"], env["TRITON_CACHE_DIR"] = str(own_tmp / "mpl"), str(own_tmp / "triton")
            # the same world without namespaces: the course's model paths through the course hook,
            # and ports of this run's own in place of the fixed ones the code asks for
            env["GRADER_COURSE_MODELS"] = json.dumps({k: str(v) for k, v in self.course_models.items()})
            env["GRADER_PORTS"] = ",".join(map(str, ports or []))
            program = [*python, *_probe_argv(probe, str(PROBES_DIR), str(_own_folder(probe))), *args]
            if self.mode == "process":
                return program, env
            devices = [f"/dev/nvidia{self.gpu.minor}", *(f"/dev/{n}" for n in CONTROL_NODES)] if self.gpu else []
            confine = {"read": [*_container_reads(), *map(str, self._runtime_paths()), str(PROBES_DIR),
                                *([str(_own_folder(probe))] if _own_folder(probe) else [])],
                       # not the shared /tmp: the capability below would read every file there
                       "write": [str(copy), str(out), str(own_tmp), *devices],
                       "ports": ports or [], "landlock": True}
            # CAP_DAC_READ_SEARCH only: the Python may live under /root (pyenv, AutoDL's conda), which
            # another uid cannot even pass through; Landlock, which no capability bypasses, then
            # decides what can be read, and seccomp refuses open_by_handle_at
            caps = ["--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search",
                    "--bounding-set=-all,+dac_read_search"]
            return [shutil.which("setpriv") or "setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
                    *caps, "--no-new-privs",
                    "--", *python, str(CONFINE), json.dumps(confine), "--", *program], env

        env["GRADER_SUBMISSION"], env["GRADER_OUT"] = INSIDE_SUBMISSION, INSIDE_OUT
        # the judge's own PATH finds bwrap (the run's environment has only the system's)
        argv = [shutil.which("bwrap") or "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
        if self.mode == "bubblewrap-userns":
            argv += ["--unshare-user", "--cap-drop", "ALL"]
        for top in ("usr", "etc"):
            argv += ["--ro-bind", f"/{top}", f"/{top}"]
        for name in ("bin", "sbin", "lib", "lib64"):
            target = os.readlink(f"/{name}") if os.path.islink(f"/{name}") else None
            if target:
                argv += ["--symlink", target, f"/{name}"]
            elif os.path.isdir(f"/{name}"):
                argv += ["--ro-bind", f"/{name}", f"/{name}"]
        for secret in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers"):
            if os.path.exists(secret):
                argv += ["--ro-bind", "/dev/null", secret]
        made: set[str] = {"/", "/usr", "/etc", "/tmp", "/dev", "/proc", "/grader"}
        # /tmp first: a tmpfs mounted after them would hide binds that live under /tmp (a CI clone)
        argv += ["--perms", "1777", "--size", str(limits.disk_bytes), "--tmpfs", "/tmp",
                 "--perms", "0755", "--dir", "/grader"]
        binds = [(p, str(p)) for p in self._runtime_paths()] + [(PROBES_DIR, INSIDE_PROBES)]
        if _own_folder(probe):
            binds.append((_own_folder(probe), INSIDE_OWN_PROBE))
        if warm is not None:   # the run's socket and the client (grader/warm.py), first on PATH as `python`
            from grader import warm as warm_server
            control, folder = warm
            binds += [(folder, warm_server.INSIDE_RUN), (Path(control).parent / "bin", warm_server.INSIDE_BIN)]
            env["PATH"] = f"{warm_server.INSIDE_BIN}:{env['PATH']}"
            env["GRADER_WARM_LINKS"] = warm_server.LINKS
            if os.environ.get("GRADER_WARM_DEBUG"):   # each client says why it started cold
                env["GRADER_WARM_DEBUG"] = "1"
            python = [f"{warm_server.INSIDE_BIN}/python", "-s"]
        for src, dest in binds:
            argv += _parent_dirs(dest, made)
            argv += ["--ro-bind", str(src), dest]
        for root in sorted({str(Path(inside).parent.parent) for inside in self.course_models}):
            argv += _parent_dirs(root, made)   # a writable folder, as on the course's machine
            argv += ["--perms", "1777", "--size", str(limits.disk_bytes), "--tmpfs", root]
            made.add(root)
        for inside, src in sorted(self.course_models.items()):
            argv += _parent_dirs(inside, made)
            argv += ["--ro-bind", str(src), inside]
        argv += ["--bind", str(copy), INSIDE_SUBMISSION, "--bind", str(out), INSIDE_OUT,
                 "--dev", "/dev", *(self.gpu.bwrap_args() if self.gpu else []), "--proc", "/proc",
                 "--chdir", INSIDE_SUBMISSION, "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += ["--"]
        # the warm client at the top stays root, so that nothing the student's code signals (kill -1)
        # can end it; it drops to uid 65534 itself where it starts the interpreter cold (grader/warm.py)
        if self.mode == "bubblewrap" and warm is None:
            argv += DROP_TO_NOBODY
        argv += [*python, *_probe_argv(probe, INSIDE_PROBES, INSIDE_OWN_PROBE), *args]
        # bwrap itself (pid 1 inside) gets no secrets either: its /proc/1/environ is readable
        # by the student in the user-namespace mode, where they share a uid
        return argv, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

    def _runtime_paths(self) -> list[Path]:
        """The interpreter, its environment and the read-only paths given by the caller."""
        paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), *self.ro_paths}
        # the venv's python may be a symlink to a base interpreter elsewhere (pyenv)
        paths.add(Path(os.path.realpath(sys.executable)).parent.parent)
        system = ("/usr", "/etc")
        return sorted(p for p in paths if not str(p).startswith(system))


_MARKER_ONLY = f"print({STARTED_MARKER!r})"


def _own_folder(probe: str | Path | None) -> Path | None:
    """An assignment's own probe folder, where ``probe`` is a path (not a shared probe's name)."""
    return Path(probe).resolve().parent if isinstance(probe, Path) else None


def _probe_argv(probe: str | Path | None, probes: str, own: str) -> list[str]:
    """What Python runs: a shared probe directly, an assignment's own through start.py (which makes the
    shared probe modules importable beside it), or only the start marker (probe None)."""
    if probe is None:
        return ["-c", _MARKER_ONLY]
    if isinstance(probe, Path):
        return [f"{probes}/start.py", f"{own}/{probe.name}"]
    return [f"{probes}/{probe}"]


# what the container mode's code may read besides the Python environment and the grader's paths:
# no device (a raw disk), no secret of /etc (bubblewrap shows /dev/null there)
_SYSTEM_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc", "/sys/devices", "/sys/class", "/sys/bus",
                "/sys/fs/cgroup", "/sys/kernel/mm")
_ETC_SECRETS = {"shadow", "gshadow", "shadow-", "gshadow-", "sudoers", "sudoers.d", "ssh", "ssl", "security"}


def _container_reads() -> list[str]:
    etc = [e.path for e in os.scandir("/etc") if e.name not in _ETC_SECRETS] if os.path.isdir("/etc") else []
    return [*_SYSTEM_READ, *etc, "/etc/ssl/certs"]


def _free_ports(count: int) -> list[int]:
    """Ports free on the loopback now, for one run where there is no network namespace."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def _run_uid(mode: str):
    """The container mode's uid for one run: the first of RUN_UIDS whose lock file this process
    can hold (so two gradings on one machine never share one). None in the other modes."""
    if mode != "container":
        yield None
        return
    run_uid_lock(RUN_UIDS.start).parent.mkdir(mode=0o700, exist_ok=True)
    for uid in RUN_UIDS:
        handle = open(run_uid_lock(uid), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        try:
            _clean_uid(uid)   # whatever a killed grader left under this uid
            yield uid
        finally:
            handle.close()
        return
    raise SandboxFailure(f"no free sandbox uid in {RUN_UIDS.start}-{RUN_UIDS.stop - 1} (more runs at once than "
                         f"that?) / 沙箱用户已用完")


def run_uid_lock(uid: int) -> Path:
    """The lock file a run holds while ``uid`` is its own (a test tells a running run's orphans by it)."""
    return Path(tempfile.gettempdir()) / "grader-run-uids" / str(uid)


def _clean_uid(uid: int, wait_s: float = 10.0) -> None:
    """Kill every process of ``uid`` (the run's, wherever it went: a new session, a daemon). It can
    have written nothing outside its own folders: Landlock, without which the mode does not start."""
    deadline = time.monotonic() + wait_s
    while _processes_of(uid) and time.monotonic() < deadline:
        subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--",
                        "kill", "-KILL", "-1"], capture_output=True)
        time.sleep(0.05)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def fix_for(mode: str, said: str) -> str:
    """What the staff can do when ``mode`` does not work, from what it said."""
    if "bwrap is not installed" in said:
        return "install bubblewrap (apt-get install bubblewrap; dnf install bubblewrap)"
    if "setpriv" in said:
        return "install util-linux's setpriv (apt-get install util-linux)"
    if "Landlock/seccomp" in said or "libseccomp" in said:
        return "pip install py-landlock pyseccomp and apt-get install libseccomp2"
    if mode in ("bubblewrap", "bubblewrap-userns") and ("namespace" in said or "Operation not permitted" in said
                                                        or "setting up uid map" in said):
        if os.geteuid() == 0:
            return ("namespaces are refused here (an unprivileged container): the container mode grades instead, "
                    "or start the container with --security-opt seccomp=unconfined --cap-add SYS_ADMIN "
                    "(docker/podman) for bubblewrap")
        return ("unprivileged user namespaces are off: sysctl -w kernel.unprivileged_userns_clone=1 (Debian), "
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04+), or "
                "sysctl -w user.max_user_namespaces=15000")
    if mode == "container" and "landlock" in said.lower():
        return "the kernel has no Landlock (5.13+ with lsm=landlock): boot it with Landlock, or use bubblewrap"
    if mode == "container":
        return "run the grader as root in the container (Gradescope and AutoDL do), or install bubblewrap"
    return "see the error above; `grader doctor` checks every mode"


def sandbox_failure_message(mode: str, output: str) -> str:
    """One line for the staff: the sandbox could not start the code, and what to do."""
    said = " ".join(output.strip().splitlines()[-3:])[:400] or "no output"
    return (f"the {mode} sandbox failed before the student's code ran ({said}); {fix_for(mode, output)} "
            f"/ 沙箱启动失败，与学生无关")


def _parent_dirs(dest: str, made: set[str]) -> list[str]:
    """bwrap copies a parent's restrictive mode (/root is 0700): create parents 0755 ourselves."""
    args = []
    parts = Path(dest).parts
    for i in range(2, len(parts)):
        parent = str(Path(*parts[:i]))
        if parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


def _run_limited(argv: list[str], env: dict, limits: Limits, out: Path, watch: list[Path] | None = None,
                 cwd: Path | None = None, warm: tuple[str, Path, str] | None = None) -> SandboxResult:
    """``watch``: the writable folders, where no size-capped tmpfs holds them (no mount namespace):
    their use is measured (twice a second, less often as it grows) and the run is ended, as the tmpfs
    would, at the disk limit. ``warm``: (the warm server's control socket, the run's folder for its
    socket, the mode) where warm interpreters serve the run (grader/warm.py)."""
    cgroups = Cgroups({"memory": limits.memory_bytes, "pids": limits.max_processes})
    missing = Cgroups.available() - set(cgroups.paths)
    if missing:   # they worked when this grading began: the machine changed under it
        cgroups.remove()
        raise SandboxFailure(f"the {', '.join(sorted(missing))} cgroup could not be created now, though it could "
                             f"when grading began; check /sys/fs/cgroup (permissions, a full cgroup tree), or run "
                             f"without cgroups / 无法创建 cgroup")

    # per uid on the whole machine (the container mode's uid is the run's own): the pids cgroup,
    # where there is one, is the real limit
    nproc = limits.max_processes if "pids" not in cgroups.paths else max(4096, 4 * limits.max_processes)
    cpu = int(limits.wall_s * max(2, limits.cpu_threads)) + 30
    rlimits = {"RLIMIT_CORE": (0, 0), "RLIMIT_FSIZE": (limits.max_file_bytes, limits.max_file_bytes),
               "RLIMIT_NPROC": (nproc, nproc), "RLIMIT_CPU": (cpu, cpu + 5)}

    def set_limits():  # runs in the child before exec; inherited by everything it starts
        cgroups.join()
        for name, values in rlimits.items():
            resource.setrlimit(getattr(resource, name), values)

    served = None
    if warm is not None:   # the warm server serves this run's python processes in its cgroups, with its limits
        from grader.warm import WarmRun
        control, folder, mode = warm
        try:
            served = WarmRun(control, folder, mode, NOBODY if mode == "bubblewrap" else None,
                             sorted(str(p) for p in set(cgroups.paths.values())), rlimits)
        except (OSError, RuntimeError, ValueError):
            folder.mkdir(exist_ok=True)   # no server after all: the client finds no socket and starts cold
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env or None, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=set_limits)
    # the time limit counts running, not waiting for a CPU others held; a warm run's processes are
    # its cgroup's (a served process's parent is the server's helper, outside the run's tree)
    clock = RunClock(proc.pid, members=cgroups.processes if served else None)
    kept = bytearray()
    dropped = [0]

    def drain():  # keep the first bytes, count and discard the rest
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):
            room = limits.max_output_bytes - len(kept)
            kept.extend(chunk[:max(room, 0)])
            dropped[0] += max(len(chunk) - max(room, 0), 0)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = over_disk = False
    next_disk_check = time.monotonic()
    try:
        # a refused fork ends the run at once: a fork storm held at its ceiling would otherwise
        # burn the cores until the time limit, and the report says which limit it hit either way
        while not cgroups.hit("pids"):
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if clock.over(limits.wall_s):
                    timed_out = True
                    break
                if watch and time.monotonic() >= next_disk_check:
                    measured = time.monotonic()
                    if _over_disk(watch, limits):
                        over_disk = True
                        break
                    # at most a tenth of a core on measuring (a folder of a million files takes seconds)
                    next_disk_check = time.monotonic() + max(0.5, 9 * (time.monotonic() - measured))
    finally:
        ran_s = clock.elapsed()   # read before the kill: the teardown below is not the run's time
        _kill_group(proc.pid)   # also reaps anything the code left behind in its group
        proc.wait()
        cgroups.kill_all()      # and what left the group: nothing of the run outlives it
        if served is not None:
            served.close()
    reader.join(timeout=5)      # a daemon that escaped the group may hold the pipe: don't wait on it
    text = kept.decode("utf-8", errors="replace")
    if dropped[0]:
        text += f"\n[... {dropped[0]} bytes of output dropped / 输出过长已截断 ...]"
    oom, forks_refused, peak = cgroups.hit("memory"), cgroups.hit("pids"), cgroups.peak_memory()
    cgroups.remove()
    return SandboxResult(returncode=None if timed_out else proc.returncode, output=text,
                         timed_out=timed_out, wall_s=time.monotonic() - started, ran_s=ran_s,
                         output_truncated=bool(dropped[0]), out_dir=out, limits=limits, oom_killed=oom,
                         process_limit_hit=forks_refused, peak_memory_bytes=peak, disk_full=over_disk)


def _over_disk(folders: list[Path], limits: Limits) -> bool:
    """Do ``folders`` hold more than the disk limit (bytes really allocated, so sparse files count
    what they use) or more files than its inode count? Stops counting at the first excess."""
    entries, stack = [], [str(f) for f in folders]
    while stack:   # names first (no stat: a million small files are counted fast)
        try:
            found = list(os.scandir(stack.pop()))
        except OSError:
            continue
        entries += found
        if len(entries) > limits.max_files:
            return True
        stack += [e.path for e in found if e.is_dir(follow_symlinks=False)]
    used = 0
    for entry in entries:
        with contextlib.suppress(OSError):
            used += entry.stat(follow_symlinks=False).st_blocks * 512
            if used > limits.disk_bytes:
                return True
    return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def make_workdir(prefix: str = "grader-") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path
