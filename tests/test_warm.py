"""Warm interpreters (grader/warm.py): a served process behaves as the fresh interpreter it stands for,
in its own sandbox, and whatever the server cannot serve exactly starts cold."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grader import warm
from grader.probes import run_clock
from grader.sandbox import DROP_TO_NOBODY, Limits, Sandbox, make_workdir, release_workdir, sandbox_env

# the probe each test runs in the sandbox: it runs the test's code and writes what it saw to out/
PROBE = """
import json, os, sys
sys.stdout.write("[grader-probe-started]\\n")
facts = {}
exec(open(os.path.join(os.path.dirname(__file__), "code.py")).read())
with open("/grader/out/facts.json", "w") as f:
    json.dump(facts, f)
"""

needs_bubblewrap = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"),
                                      reason="the warm server serves the bubblewrap modes, run here as root")


@pytest.fixture(scope="module")
def server():
    started = warm.WarmServer({**sandbox_env(1), "PYTHONPATH": str(Path(warm.__file__).parent.parent)}, DROP_TO_NOBODY)
    yield started
    started.close()


def run(tmp_path: Path, code: str, served: bool, server=None, monkeypatch=None, wall_s: float = 60):
    """Run ``code`` (which fills ``facts``) as a probe in a bubblewrap sandbox, warm or cold."""
    if served:
        monkeypatch.setenv("GRADER_WARM_CONTROL", server.control)
    else:
        monkeypatch.delenv("GRADER_WARM_CONTROL", raising=False)
    probe = tmp_path / f"probe-{served}"
    probe.mkdir()
    (probe / "probe.py").write_text(PROBE)
    (probe / "code.py").write_text(code)
    work = make_workdir()
    try:
        sandbox = Sandbox(ro_paths=[], env={"GRADER_WARM_DEBUG": "1"}, mode="bubblewrap",
                          limits=Limits(wall_s=wall_s, cpu_threads=1))
        result = sandbox.run_probe(probe / "probe.py", [], None, work)
        facts_file = result.out_dir / "facts.json"
        facts = json.loads(facts_file.read_text()) if facts_file.exists() else {}
        return result, facts
    finally:
        release_workdir(work)


SEEN = """
import signal, subprocess, resource
facts["executable"] = sys.executable
facts["argv"] = sys.argv
facts["cwd"] = os.getcwd()
facts["ids"] = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
facts["caps"] = [status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip()]
facts["limits"] = [resource.getrlimit(resource.RLIMIT_FSIZE), resource.getrlimit(resource.RLIMIT_CORE)]
facts["hostname"] = os.uname().nodename
facts["path"] = [p for p in sys.path if "grader" in p or p in ("", os.getcwd())]
facts["main"] = __name__
facts["ppid"] = os.getppid()   # bwrap's init, served or not
import ctypes
facts["dumpable"] = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)   # PR_GET_DUMPABLE: 1 after a fresh exec
child = ("import os, sys; print(sys.argv[1:], os.environ.get('ASKED'), os.getcwd(), sys.stdin.read()); "
         "sys.stdout.flush(); sys.exit(7)")
done = subprocess.run([sys.executable, "-c", child, "a b", "c"], input="from stdin", capture_output=True, text=True,
                      env={**os.environ, "ASKED": "yes"}, cwd="/tmp")
facts["child"] = [done.returncode, done.stdout.strip()]
killed = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
facts["killed"] = killed.returncode
raised = subprocess.run([sys.executable, "-c", "raise ValueError('boom')"], capture_output=True, text=True)
facts["raised"] = [raised.returncode, raised.stderr.strip().splitlines()[-1]]
with open("/tmp/s.py", "w") as f:
    f.write("import sys; print(__name__, __file__, sys.argv, sys.path[0]); import atexit; atexit.register(print, 'bye')")
script = subprocess.run([sys.executable, "-u", "/tmp/s.py", "x"], capture_output=True, text=True)
facts["script"] = script.stdout.split()
module = subprocess.run([sys.executable, "-m", "json.tool"], input="[1]", capture_output=True, text=True)
facts["module"] = [module.returncode, module.stdout.split()]
"""


@needs_bubblewrap
def test_a_served_process_sees_what_a_fresh_interpreter_sees(tmp_path, server, monkeypatch):
    cold, cold_facts = run(tmp_path, SEEN, False, monkeypatch=monkeypatch)
    served, served_facts = run(tmp_path, SEEN, True, server, monkeypatch)
    if "cold:" in served.output:
        pytest.skip(f"this machine starts every process cold: {served.output.strip()[-300:]}")
    assert cold.returncode == served.returncode == 0, (cold.output, served.output)
    assert cold_facts["executable"] == sys.executable and served_facts["executable"] == f"{warm.INSIDE_BIN}/python"
    for facts in (cold_facts, served_facts):
        facts.pop("executable")
        facts["argv"][0] = os.path.basename(facts["argv"][0])
    assert served_facts == cold_facts
    assert served_facts["ids"][:3] == [65534, 65534, 65534] and served_facts["caps"] == ["0" * 16, "0" * 16, "1"]
    assert served_facts["child"] == [7, "['a b', 'c'] yes /tmp from stdin"]
    assert served_facts["killed"] == -signal.SIGTERM and served_facts["raised"] == [1, "ValueError: boom"]
    assert served_facts["script"] == ["__main__", "/tmp/s.py", "['/tmp/s.py',", "'x']", "/tmp", "bye"]


@needs_bubblewrap
def test_served_processes_take_no_time_to_import_torch(tmp_path, server, monkeypatch):
    code = ("import subprocess, time; t = time.monotonic(); subprocess.run([sys.executable, '-c', 'import torch, peft']); "
            "facts['s'] = time.monotonic() - t")
    served, facts = run(tmp_path, code, True, server, monkeypatch)
    if "cold:" in served.output:
        pytest.skip(f"this machine starts every process cold: {served.output.strip()[-300:]}")
    assert facts["s"] < 1.0, served.output   # a cold interpreter takes seconds (benchmarks/startup_floor.py)


@needs_bubblewrap
def test_a_killed_client_takes_its_served_process_and_group_with_it(tmp_path, server, monkeypatch):
    code = """
import subprocess, time
beat = "/tmp/beat"
loop = ("import os, subprocess, sys, time\\n"
        "subprocess.Popen(['sleep', '1000'])\\n"
        "while True:\\n    open('/tmp/beat', 'w').write(str(time.time())); time.sleep(0.1)")
client = subprocess.Popen([sys.executable, "-c", loop])
while not os.path.exists(beat):
    time.sleep(0.05)
client.kill()
client.wait()
time.sleep(1.0)
last = os.path.getmtime(beat)
time.sleep(1.0)
facts["beating"] = os.path.getmtime(beat) != last
facts["left"] = sorted(open(f"/proc/{p}/cmdline").read().split("\\0")[0] for p in os.listdir("/proc")
                       if p.isdigit() and int(p) not in (1, os.getpid()))
"""
    served, facts = run(tmp_path, code, True, server, monkeypatch)
    if "cold:" in served.output:
        pytest.skip(f"this machine starts every process cold: {served.output.strip()[-300:]}")
    assert facts["beating"] is False, served.output
    assert "sleep" not in facts["left"], facts["left"]


@needs_bubblewrap
def test_what_the_server_cannot_serve_exactly_starts_cold(tmp_path, server, monkeypatch):
    code = """
import subprocess
ask = lambda env, *args: subprocess.run([sys.executable, *args, "-c", "import sys; print(sys.executable)"],
                                        capture_output=True, text=True, env=env).stdout.strip()
facts["same"] = ask(dict(os.environ))
facts["offline_off"] = ask({**os.environ, "HF_HUB_OFFLINE": "0"})
facts["isolated"] = ask(dict(os.environ), "-I")
"""
    served, facts = run(tmp_path, code, True, server, monkeypatch)
    if "cold:" in served.output:
        pytest.skip(f"this machine starts every process cold: {served.output.strip()[-300:]}")
    assert facts == {"same": f"{warm.INSIDE_BIN}/python", "offline_off": sys.executable, "isolated": sys.executable}


@needs_bubblewrap
def test_a_served_process_stays_in_its_sandbox(tmp_path, server, monkeypatch):
    secret = tmp_path / "judge-secret.txt"
    secret.write_text("not for students")
    code = f"""
import socket
facts["secret"] = os.path.exists({str(secret)!r})
facts["hosts"] = [p for p in os.listdir("/proc") if p.isdigit()]
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("1.1.1.1", 53))
    facts["net"] = "reached"
except OSError as exc:
    facts["net"] = type(exc).__name__
facts["root"] = sorted(os.listdir("/"))
"""
    served, facts = run(tmp_path, code, True, server, monkeypatch)
    if "cold:" in served.output:
        pytest.skip(f"this machine starts every process cold: {served.output.strip()[-300:]}")
    assert facts["secret"] is False and facts["net"] != "reached"
    assert len(facts["hosts"]) < 10, facts["hosts"]   # its sandbox's pid namespace, not the machine's
    assert "submission" in facts["root"] and "grader" in facts["root"]


def test_only_the_judges_uid_may_open_a_run(server):
    if os.geteuid() != 0:
        pytest.skip("needs another uid to try")
    try_it = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(5)\n"
              "try:\n    s.connect(sys.argv[1]); s.sendall(b'{}\\n'); print(s.recv(100))\n"
              "except OSError as exc:\n    print(type(exc).__name__)")
    done = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-c",
                           try_it, server.control], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() in ("PermissionError", "b''"), done


def test_the_refusals():
    base = sandbox_env(2)
    request = {"program": "python", "run": "script", "target": "/x.py", "args": [], "cwd": "/", "ppid": 1,
               "env": dict(base)}
    assert warm.refusal(request, base) is None
    assert "HF_HUB_OFFLINE" in warm.refusal({**request, "env": {**base, "HF_HUB_OFFLINE": "0"}}, base)
    assert "OMP_NUM_THREADS" in warm.refusal({**request, "env": {**base, "OMP_NUM_THREADS": "4"}}, base)
    # read when used: a DeepSpeed launch's own variables are served
    assert warm.refusal({**request, "env": {**base, "PYTHONPATH": "/hooks", "TORCH_EXTENSIONS_DIR": "/t",
                                            "DS_ACCELERATOR": "cpu", "CUDA_VISIBLE_DEVICES": "0"}}, base) is None
    assert warm.refusal({**request, "env": {**base, "DS_ACCELERATOR": "cuda"}}, base) == "another DeepSpeed accelerator"
    # what the server's own imports set, its children inherit
    assert warm.refusal({**request, "env": {**base, "TORCHINDUCTOR_CACHE_DIR": "/c"}}, base,
                        {"TORCHINDUCTOR_CACHE_DIR": "/c"}) is None
    for broken in ({**request, "run": "shell"}, {**request, "args": [1]}, {**request, "env": {"A": 1}},
                   {**request, "ppid": "1"}, []):
        assert warm.refusal(broken, base) == "not a request"


def test_the_run_clock_counts_a_served_process_as_its_clients_child(tmp_path, monkeypatch):
    links = tmp_path / "links"
    links.mkdir()
    me, served = os.getpid(), os.getppid()   # a process that is not this one's child stands for the served one
    (links / str(me)).write_text(str(served))
    (links / str(served)).write_text(str(me))   # a loop, as a student could write: no hang
    assert served not in run_clock._tree(me)
    monkeypatch.setenv("GRADER_WARM_LINKS", str(links))
    assert served in run_clock._tree(me)


@needs_bubblewrap
def test_each_thread_count_gets_its_own_server(tmp_path, monkeypatch):
    """A class run's units set their sandboxes' threads (GRADER_SETTINGS): torch reads OMP_NUM_THREADS
    when imported, so the runner starts a server for that count, or every process would start cold."""
    from types import SimpleNamespace

    from grader import runner
    from grader.settings import ENV, Settings
    monkeypatch.setattr(runner, "_WARM", {})
    try:
        given = runner._warm("cpu", {**os.environ, ENV: Settings(cpu_threads=1).to_json()})
        if not given:
            pytest.skip("no warm server here (the sandbox mode or cgroups)")
        served, facts = run(tmp_path, "facts['exe'] = sys.executable", True,
                            SimpleNamespace(control=given["GRADER_WARM_CONTROL"]), monkeypatch)
        if "cold:" in served.output and "differ" not in served.output:
            pytest.skip(f"this machine starts every process cold: {served.output.strip()[-300:]}")
        assert facts["exe"] == f"{warm.INSIDE_BIN}/python", served.output
        assert set(runner._WARM) == {1}
    finally:
        for server in runner._WARM.values():
            if isinstance(server, warm.WarmServer):
                server.close()
