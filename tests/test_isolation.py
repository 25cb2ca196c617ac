"""One verdict wherever it runs: the sandbox mode is probed, never assumed; the container mode (the
grader as root where namespaces are refused: Docker, Gradescope, AutoDL, Kubernetes) confines the
code; a broken sandbox stops the run and scores nobody; the class cache key holds the settings."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fixtures import fixtures_dir
from grader.classrun import cache_key
from grader.isolation import check_mode
from grader.profiles import REPO
from grader.sandbox import Limits, Sandbox, SandboxFailure

DOCKER_LIKE = [sys.executable, str(REPO / "tests" / "tools" / "docker_like.py")]
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="the container mode needs the grader to run as root")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def grader(*args, env=None, timeout=900, wrap=()) -> subprocess.CompletedProcess:
    return subprocess.run([*wrap, sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=REPO)


def run_code(tmp_path: Path, code: str, mode: str = "container", wall_s: float = 60) -> tuple:
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "payload.py").write_text(code)
    sandbox = Sandbox(ro_paths=[fixtures_dir()], env={}, mode=mode)
    res = sandbox.run_probe("run_file_probe.py", ["payload.py"], sub, tmp_path / "work", Limits(wall_s=wall_s))
    facts = res.out_dir / "facts.json"
    return res, (json.loads(facts.read_text()) if facts.exists() else None)


@needs_root
@needs_bwrap
def test_doctor_under_a_docker_like_confinement_names_the_fix_and_picks_the_container_mode():
    proc = grader("doctor", wrap=DOCKER_LIKE, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no  bubblewrap" in proc.stdout and "Creating new namespace failed" in proc.stdout
    assert "--security-opt seccomp=unconfined" in proc.stdout   # the fix, for docker/podman
    assert "ok  container" in proc.stdout and "grader run uses: container" in proc.stdout
    best = grader("doctor", "--best", wrap=DOCKER_LIKE, timeout=120)
    assert best.stdout.strip() == "container"


@needs_root
def test_container_mode_confines_the_code(tmp_path, loopback_listener):
    port, accepted = loopback_listener
    canary = tmp_path / "judge-secret.txt"
    canary.write_text("secret")
    res, facts = run_code(tmp_path, f"""
import json, os, socket, subprocess
seen = {{}}
for p in [{str(REPO / 'reference' / 'qwen2_lora' / 'train.py')!r}, {str(canary)!r}, "/etc/shadow",
          {str(REPO / 'grader' / 'checks' / 'conftest.py')!r}]:
    try:
        open(p).read(1); seen[p] = "read"
    except OSError as exc:
        seen[p] = type(exc).__name__
def attempt(fn):
    try:
        fn(); return "done"
    except OSError as exc:
        return type(exc).__name__
facts = {{"uid": os.getuid(), "seen": seen,
          "write_usr": attempt(lambda: open("/usr/evil", "w")),
          "hosts_loopback": attempt(lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3).close()),
          "udp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
          "unshare": subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode,
          "fixtures": os.path.isdir({str(fixtures_dir())!r}),
          "own_tmp": attempt(lambda: open(os.path.join(os.environ["TMPDIR"], "x"), "w").write("x"))}}
# a daemon in its own session: it must not outlive the run
subprocess.Popen(["sleep", "300"], start_new_session=True)
json.dump(facts, open(os.path.join(os.environ["GRADER_OUT"], "facts.json"), "w"))
""")
    assert res.returncode == 0, res.output
    assert facts["uid"] in range(62000, 62512)
    assert set(facts["seen"].values()) == {"PermissionError"}, facts["seen"]
    assert facts["write_usr"] == "PermissionError"
    assert facts["hosts_loopback"] != "done" and not accepted
    assert facts["udp"] == "PermissionError" and facts["unshare"] != 0
    assert facts["fixtures"] and facts["own_tmp"] == "done"
    left = subprocess.run(["pgrep", "-u", str(facts["uid"])], capture_output=True, text=True).stdout.split()
    assert left == [], left


@needs_root
def test_container_runs_cannot_signal_each_other_or_the_judge(tmp_path):
    res, facts = run_code(tmp_path, """
import json, os, signal
def attempt(pid):
    try:
        os.kill(pid, 0); return "allowed"
    except OSError as exc:
        return type(exc).__name__
json.dump({"judge": attempt(os.getppid()), "init": attempt(1)},
          open(os.path.join(os.environ["GRADER_OUT"], "facts.json"), "w"))
""")
    assert res.returncode == 0, res.output
    assert facts == {"judge": "PermissionError", "init": "PermissionError"}, facts


def test_a_run_that_never_reaches_the_probe_is_the_sandboxs_failure(tmp_path, monkeypatch):
    """bwrap's own error (here a stand-in for a bwrap that cannot create namespaces) is the grader's."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\n"
                                "exit 1\n")
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "payload.py").write_text("print('hi')\n")
    with pytest.raises(SandboxFailure, match="namespace"):
        Sandbox(ro_paths=[], env={}, mode="bubblewrap" if ROOT else "bubblewrap-userns").run_probe(
            "run_file_probe.py", ["payload.py"], sub, tmp_path / "work", Limits(wall_s=30))
    assert not check_mode("bubblewrap" if ROOT else "bubblewrap-userns").works


def test_a_cgroup_that_cannot_be_made_is_the_sandboxs_failure(tmp_path, monkeypatch):
    """Where the grading began with cgroups, a run whose cgroup cannot be made is not graded
    without its memory limit: it is the grader's failure."""
    from grader.sandbox import Cgroups
    monkeypatch.setattr(Cgroups, "available", classmethod(lambda cls: frozenset({"memory", "pids"})))
    monkeypatch.setattr(Cgroups, "_base", staticmethod(lambda controller: None))
    with pytest.raises(SandboxFailure, match="cgroup could not be created"):
        run_code(tmp_path, "print('hi')\n", mode="process")


def test_a_student_cannot_pass_for_a_broken_sandbox(tmp_path):
    """Printing bwrap's error and exiting 1 is the student's own failure: the probe had started."""
    res, _ = run_code(tmp_path, "import os\nprint('bwrap: Creating new namespace failed', flush=True)\nos._exit(1)\n",
                      mode="container" if ROOT else "process")
    assert res.returncode == 1


def test_a_broken_bwrap_stops_the_run_and_scores_nobody(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\n"
                                "exit 1\n")
    (fake / "bwrap").chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    mode = "bubblewrap" if ROOT else "bubblewrap-userns"
    out = tmp_path / "reports"
    proc = grader("run", str(REPO / "examples" / "submissions"), "--out", str(out), "--sandbox", mode,
                  "--assignment", "qwen2_chat", env=env, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the {mode} sandbox does not work here" in proc.stderr and "Fix:" in proc.stderr
    assert not list(out.glob("*/results.json"))


@needs_bwrap
def test_a_sandbox_that_breaks_during_a_class_run_stops_it(tmp_path):
    """bwrap works when the run probes it, then fails: the run stops naming the failure; no student
    is scored by the broken sandbox, and those graded before it keep their results."""
    real = shutil.which("bwrap")
    fake = tmp_path / "bin"
    fake.mkdir()
    count = tmp_path / "count"
    # the first start (the run's own probe of the mode) works; every later one fails as bwrap would
    (fake / "bwrap").write_text(f"""#!/bin/sh
if [ ! -e {count} ]; then touch {count}; exec {real} "$@"; fi
echo 'bwrap: Creating new namespace failed: Operation not permitted' >&2
exit 1
""")
    (fake / "bwrap").chmod(0o755)
    out = tmp_path / "reports"
    proc = grader("run", str(REPO / "examples" / "submissions"), "--out", str(out), "--assignment", "qwen2_chat",
                  "--workers", "1", env={"PATH": f"{fake}:{os.environ['PATH']}", "GRADER_SANDBOX": ""}, timeout=600)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "stopped, no student was scored by the broken sandbox" in proc.stderr
    assert "Creating new namespace failed" in proc.stderr
    assert not list(out.glob("*/results.json")) and not (out / "grades.csv").exists()


def test_the_class_cache_key_holds_limits_models_and_mode(tmp_path, monkeypatch):
    student = tmp_path / "alice"
    (student / "qwen2_lora").mkdir(parents=True)
    (student / "qwen2_lora" / "train.py").write_text("x = 1\n")
    monkeypatch.setenv("GRADER_SANDBOX", "process")
    base = cache_key(student, "cpu", ("qwen2_lora",))
    for name, value in (("GRADER_TRAIN_TIMEOUT_S", "999"), ("GRADER_MEMORY_LIMIT_MB", "1234"),
                        ("GRADER_MODELS", "/somewhere"), ("GRADER_DISK_LIMIT_MB", "99"), ("GRADER_SANDBOX", "container")):
        with monkeypatch.context() as m:
            m.setenv(name, value)
            assert cache_key(student, "cpu", ("qwen2_lora",)) != base, name
    monkeypatch.setenv("GRADER_CPU_THREADS", "7")   # a verdict must not depend on threads: no regrade
    assert cache_key(student, "cpu", ("qwen2_lora",)) == base


def test_settings_are_read_once_and_reach_children_whole(monkeypatch):
    from grader.settings import ENV, SettingsError, current, from_environment
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("GRADER_TRAIN_TIMEOUT_S", "123")
    monkeypatch.setenv("GRADER_MEMORY_LIMIT_MB", "2048")
    given = from_environment()
    assert given.timeouts["train"] == 123.0 and given.memory_limit_mb == 2048
    from grader.assignments import get
    assert get("qwen2_lora").limits()["train"] == 123.0
    # the resolved object wins whole over the single variables in a child
    monkeypatch.setenv(ENV, given.replace(timeouts={"train": 7.0}).to_json())
    assert current().timeouts == {"train": 7.0} and get("qwen2_lora").limits()["train"] == 7.0
    monkeypatch.delenv(ENV)
    monkeypatch.setenv("GRADER_TRAIN_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError, match="GRADER_TRAIN_TIMEOUT_S"):
        current()
    proc = grader("run", str(REPO / "examples" / "submissions"), "--out", "/nonexistent", timeout=60,
                  env={"GRADER_TRAIN_TIMEOUT_S": "soon"})
    assert proc.returncode == 2 and "GRADER_TRAIN_TIMEOUT_S='soon' is not a number" in proc.stderr


def expected_scores() -> dict:
    import tomllib
    from grader.assignments import get, names
    return {a: {s: v["score"] for s, v in tomllib.loads(get(a).expected_examples.read_text(encoding="utf-8")).items()}
            for a in names()}


def as_user(uid: int = 65534) -> list[str]:
    """A command prefix that runs the grader as an ordinary user (the bubblewrap-userns mode)."""
    return ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--"]


def user_can_run_python() -> bool:
    """Can an ordinary user start this Python? (pyenv under /root needs `chmod o+x /root`: .ci/run)"""
    return ROOT and subprocess.run([*as_user(), sys.executable, "-c", "pass"], capture_output=True).returncode == 0


# CI's time: every assignment but DeepSpeed's, whose launches (two a student) bubblewrap grades in
# tests/test_examples.py and the container mode in the Gradescope bundle's run (tests/test_course_tools.py)
# and the hostile corpus
NOT_DEEPSPEED = ("qwen2_chat", "qwen2_lora", "qwen2_fastapi")
MODES = [("container", NOT_DEEPSPEED), ("process", NOT_DEEPSPEED), ("bubblewrap-userns", NOT_DEEPSPEED)]


@pytest.mark.parametrize("mode, only", MODES)
def test_the_example_class_scores_the_same_in_every_mode(tmp_path, mode, only):
    """The same scores as under bubblewrap (tests/test_examples.py): the container mode under a
    Docker-like confinement of the grader itself, the process mode asked for by name, and the
    bubblewrap-userns mode with the grader as an ordinary user."""
    if mode == "container" and not ROOT:
        pytest.skip("the container mode needs root")
    wrap, env = {"container": DOCKER_LIKE}.get(mode, ()), {}
    if mode == "bubblewrap-userns":   # the grader itself as an ordinary user, as on a laptop
        if not user_can_run_python():
            pytest.skip("no ordinary user can start this Python (chmod o+x its parent folders)")
        tmp_path = Path(tempfile.mkdtemp(prefix="grader-userns-"))
        tmp_path.chmod(0o777)
        wrap, env = as_user(), {"HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    out = tmp_path / "reports"
    chosen = [arg for a in only or () for arg in ("--assignment", a)]
    proc = grader("run", str(REPO / "examples" / "submissions"), "--out", str(out), "--sandbox", mode, *chosen,
                  wrap=wrap, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if mode == "process":
        assert "process mode, no filesystem or network isolation" in proc.stderr   # said on the console
    expected = expected_scores()
    for student in ("alice", "bob", "carol"):
        data = json.loads((out / student / "grader-result.json").read_text())
        got = {a["name"]: sum(c["score"] for c in a["checks"]) for a in data["assignments"]}
        assert got == {a: expected[a][student] for a in got}, (student, mode, data["sandbox"])
        assert data["sandbox"].split()[0].rstrip(":") == mode, data["sandbox"]   # the report names the mode
