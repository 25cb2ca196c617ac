"""The sandbox holds: student-like code runs as nobody, sees no repo, no network, no host /tmp,
cannot outlive its time limit, and cannot flood the judge with output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import fixtures_dir
from grader.profiles import REPO
from grader.probes.run_clock import BACKSTOP
from grader.isolation import detect_mode
from grader.sandbox import Limits, Cgroups, Sandbox

needs_bwrap = pytest.mark.skipif(detect_mode() == "process", reason="bubblewrap is not installed")


def run_code(tmp_path: Path, code: str, wall_s: float = 60, **limits):
    sub = tmp_path / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    (sub / "payload.py").write_text(code)
    sandbox = Sandbox(ro_paths=[fixtures_dir()], env={}, mode=detect_mode())
    work = tmp_path / "work"
    return sandbox.run_probe("run_file_probe.py", ["payload.py"], sub, work, Limits(wall_s=wall_s, **limits))


@needs_bwrap
def test_runs_as_nobody_with_a_read_only_host_view(tmp_path):
    canary = tmp_path / "host-canary.txt"
    canary.write_text("secret")
    res = run_code(tmp_path, f"""
import os, json
seen = {{}}
for p in [{str(REPO / 'reference')!r}, {str(REPO / 'grader' / 'checks')!r}, {str(canary)!r}, "/home/x", "/work/main/.git"]:
    seen[p] = os.path.exists(p)
# /root appears only as the parent of a bound interpreter (pyenv), never with its own files
root_entries = os.listdir("/root") if os.path.isdir("/root") else []
json.dump({{"uid": os.getuid(), "seen": seen, "root": root_entries}}, open("/grader/out/facts.json", "w"))
try:
    open("/usr/evil", "w"); json.dump({{"wrote_usr": True}}, open("/grader/out/usr.json", "w"))
except OSError:
    pass
""")
    facts = json.loads((res.out_dir / "facts.json").read_text())
    assert res.returncode == 0, res.output
    assert facts["uid"] == 65534 or detect_mode() == "bubblewrap-userns"
    assert not any(facts["seen"].values()), facts["seen"]
    assert set(facts["root"]) <= {".pyenv"}, facts["root"]
    assert not (res.out_dir / "usr.json").exists()


@needs_bwrap
def test_no_network_not_even_the_hosts_loopback(tmp_path, loopback_listener):
    port, accepted = loopback_listener
    res = run_code(tmp_path, f"""
import socket, json
results = {{}}
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 80), ("8.8.8.8", 53)]:
    try:
        socket.create_connection((host, port), timeout=3).close(); results[host] = "connected"
    except OSError as e:
        results[host] = type(e).__name__
json.dump(results, open("/grader/out/net.json", "w"))
""")
    results = json.loads((res.out_dir / "net.json").read_text())
    assert "connected" not in results.values(), results
    assert not accepted


def test_timeout_kills_the_whole_tree(tmp_path):
    marker = tmp_path / "work" / "out" / "alive"
    started = time.monotonic()
    res = run_code(tmp_path, """
import os, time, subprocess, sys
out = os.environ["GRADER_OUT"]
if os.fork() == 0:          # a grandchild that tries to outlive the grading
    os.setsid()
    time.sleep(4)
    open(os.path.join(out, "alive"), "w").write("still here")
    os._exit(0)
while True:
    pass
""", wall_s=2)
    assert res.timed_out and "time limit" in res.problem
    assert time.monotonic() - started < 15
    time.sleep(5)
    assert not marker.exists() or detect_mode() == "process"


CPU = min(os.sched_getaffinity(0))
SPIN = f"import os, time\nos.sched_setaffinity(0, {{{CPU}}})\nt = time.process_time()\nwhile time.process_time() - t < %s: pass\n"


def test_the_time_a_run_waits_for_a_cpu_others_hold_does_not_count(tmp_path):
    """The run clock (grader/probes/run_clock.py): a run that needs 1.5 s of CPU, on one core where three
    other programs spin, takes about 6 s and still ends well within a 3 s limit; on that core an endless
    loop is still ended (at the wall-clock backstop) and a hang at its limit, as on a quiet machine."""
    # each in a session of its own, as the run is: the kernel's autogroups share a core between sessions
    hogs = [subprocess.Popen([sys.executable, "-c", SPIN % 10_000], start_new_session=True) for _ in range(3)]
    try:
        done = run_code(tmp_path / "done", SPIN % 1.5 + "print('done')", wall_s=3)
        assert not done.timed_out and "done" in done.output, done.output
        assert done.wall_s > 3, f"the hogs did not slow it ({done.wall_s:.1f} s): the test shows nothing"
        loop = run_code(tmp_path / "loop", SPIN % 10_000, wall_s=2)
        assert loop.timed_out and loop.wall_s < BACKSTOP * 2 + 5, loop.wall_s
        assert "wall-clock" in loop.problem and "CPU" in loop.problem, loop.problem
        hang = run_code(tmp_path / "hang", "import time\ntime.sleep(10_000)\n", wall_s=2)
        assert hang.timed_out and hang.wall_s < 5, hang.wall_s
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_output_is_capped(tmp_path):
    res = run_code(tmp_path, "import sys\nfor _ in range(20000): sys.stdout.write('x' * 1000 + '\\n')\n",
                   max_output_bytes=10_000)
    assert res.output_truncated and len(res.output) < 12_000
    assert "dropped" in res.output


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TEST_SECRET", "hunter2")
    res = run_code(tmp_path, "import os, json\njson.dump(dict(os.environ), open(os.environ['GRADER_OUT'] + '/env.json', 'w'))\n")
    env = json.loads((res.out_dir / "env.json").read_text())
    assert "GRADER_TEST_SECRET" not in env and "hunter2" not in json.dumps(env)


@pytest.mark.skipif("memory" not in Cgroups.available(), reason="no writable memory cgroup on this machine")
def test_memory_limit_is_reported_as_such(tmp_path):
    res = run_code(tmp_path, "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))\n",
                   memory_bytes=512 * 1024 ** 2)
    assert res.oom_killed, res.output
    assert "memory limit" in res.problem and "内存" in res.problem


@needs_bwrap
def test_read_only_paths_under_tmp_stay_visible(tmp_path):
    """A clone under /tmp (as in CI) keeps its venv and fixtures visible under the private /tmp."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    (data / "fact.txt").write_text("visible")
    (data / "fact.txt").chmod(0o644)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "payload.py").write_text(f"import json\njson.dump(open({str(data / 'fact.txt')!r}).read(), "
                                    f"open('/grader/out/fact.json', 'w'))\n")
    sandbox = Sandbox(ro_paths=[data], env={}, mode=detect_mode())
    res = sandbox.run_probe("run_file_probe.py", ["payload.py"], sub, tmp_path / "work", Limits(wall_s=60))
    assert json.loads((res.out_dir / "fact.json").read_text()) == "visible", res.output


@pytest.mark.skipif("pids" not in Cgroups.available(), reason="no writable pids cgroup on this machine")
def test_fork_storm_is_held_to_the_process_limit_and_reported(tmp_path):
    res = run_code(tmp_path, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                   wall_s=120, max_processes=64)
    assert res.process_limit_hit, res.output
    assert not res.timed_out and res.wall_s < 60, res.wall_s   # the refused fork ended it, not the clock
    assert "process limit 64" in res.problem and "进程数" in res.problem


@needs_bwrap
def test_private_tmp_is_size_capped(tmp_path):
    res = run_code(tmp_path, """import errno, json
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(64):
            f.write(b"x" * 1024 * 1024)
    outcome = "wrote 64 MiB"
except OSError as exc:
    outcome = errno.errorcode[exc.errno]
json.dump(outcome, open("/grader/out/tmp.json", "w"))
""", disk_bytes=16 * 1024 ** 2)
    assert json.loads((res.out_dir / "tmp.json").read_text()) == "ENOSPC", res.output
