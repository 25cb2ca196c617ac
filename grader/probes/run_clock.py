"""The time a run has had: wall-clock time less the time its threads waited for a CPU that other
programs held. The scheduler counts both for every thread (/proc/<pid>/task/<tid>/schedstat: ns on
a CPU, ns runnable but waiting for one). A time limit read on this clock ends an endless loop or a
hang as a wall-clock limit does on a quiet machine, and gives a correct run on a busy one (two
workers of a class run, a CPU hog, CI's two cores shared) back the time it spent waiting, so its
verdict does not depend on the load (issue 24: a LoRA launch of 47 s ran past a 240 s wall-clock
limit with four heavy runs on two cores).

A thread's share of starved time is what it lost; time it spent asleep (a hang, a server waiting on
a request) counts in full. A wall-clock backstop, BACKSTOP times the limit, still ends every run:
one that starves itself (more busy threads than cores) or runs where the kernel keeps no schedstat.

Standard library only: the sandbox (grader/sandbox.py) times each run on it, and the probes, inside
the sandbox, time what they start (a DeepSpeed launch, a server's requests, an AppTest turn)."""
from __future__ import annotations

import os
import time

BACKSTOP = 4.0   # a run ends after this many times its limit of wall-clock time, however starved


def _schedstat(pid: int, tid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
            ran, waited = handle.read().split()[:2]
        return int(ran), int(waited)
    except (OSError, ValueError):
        return None


def _tree(root: int) -> list[int]:
    """``root`` and every process under it (by parent pid, read from /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    # a process a warm interpreter serves (grader/warm.py) has its parent outside the sandbox: its
    # client, the process that started in its place, links it here (client pid -> served pid)
    links = os.environ.get("GRADER_WARM_LINKS")
    try:
        named = os.listdir(links) if links else []
    except OSError:
        named = []
    for client in named[:4096]:   # the student's to write: bounded, and a bad one is skipped
        try:
            with open(os.path.join(links, client)) as handle:
                children.setdefault(int(client), []).append(int(handle.read(32)))
        except (OSError, ValueError):
            pass
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in found:   # a link file is the student's to write: no loop
            continue
        found.append(pid)
        stack += children.get(pid, [])
    return found


class RunClock:
    """Seconds of running that the processes under ``root`` have had since the clock started.
    Read it often (each read accounts the time since the last: twice a second is plenty)."""

    def __init__(self, root: int | None = None, thread: int | None = None, members=None):
        """``root``: this process by default; ``thread``: a native thread id of it, to time that thread alone;
        ``members``: a callable giving the pids to time instead of root's tree (a run's cgroup)."""
        self.root = os.getpid() if root is None else root
        self.thread = thread
        self.members = members
        self.started = self._last = time.monotonic()
        self.progress = 0.0
        self.keeps_count = _schedstat(self.root, self.root) is not None   # else: wall-clock time
        self._seen = self._threads()

    def _threads(self) -> dict[tuple[int, int], tuple[int, int]]:
        seen = {}
        if not self.keeps_count:
            return seen
        pids = [self.root] if self.thread else self.members() if self.members else _tree(self.root)
        for pid in pids:
            try:
                tids = [self.thread] if self.thread else os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                stat = _schedstat(pid, int(tid))
                if stat is not None:
                    seen[pid, int(tid)] = stat
        return seen

    def elapsed(self) -> float:
        now = time.monotonic()
        if now - self._last < 0.25:   # read again at once: /proc is read at most four times a second
            return self.progress
        step, self._last = now - self._last, now
        seen = self._threads()
        ran = waited = 0
        for key, (run_ns, wait_ns) in seen.items():
            before_run, before_wait = self._seen.get(key, (0, 0))   # a thread new since: all its time
            ran += max(0, run_ns - before_run)
            waited += max(0, wait_ns - before_wait)
        self._seen = seen
        self.progress += step * (1 - waited / (ran + waited) if ran + waited else 1.0)
        return self.progress

    def wall(self) -> float:
        return time.monotonic() - self.started

    def over(self, limit_s: float) -> bool:
        """Has the run had ``limit_s`` seconds (or BACKSTOP times that of wall-clock time)?"""
        return self.elapsed() >= limit_s or self.wall() >= BACKSTOP * limit_s

    def stretched(self, seconds: float) -> float:
        """``seconds`` of running, in wall-clock seconds at the pace the run has had so far."""
        progress, wall = self.elapsed(), self.wall()
        return seconds * (min(BACKSTOP, max(1.0, wall / progress)) if progress > 0 else 1.0)

    def spent(self, limit_s: float) -> tuple[str, str]:
        return spent(limit_s, self.wall(), self.elapsed())


def spent(limit_s: float, wall_s: float, ran_s: float) -> tuple[str, str]:
    """How long a run that reached its limit ran, for the message (Chinese, English): the limit, and
    where the machine was busy, the wall-clock time it took."""
    if wall_s - ran_s < max(2.0, 0.1 * limit_s):
        return f"{limit_s:.0f} 秒", f"{limit_s:.0f} s"
    return (f"{min(ran_s, limit_s):.0f} 秒（实际 {wall_s:.0f} 秒：等待 CPU 的时间不计，至多 {BACKSTOP:g} 倍）",
            f"{min(ran_s, limit_s):.0f} s of running ({wall_s:.0f} s of wall-clock time: the time it waited for a "
            f"CPU is not counted, up to {BACKSTOP:g} times the limit)")
