"""The judge zygote (grader/judge_zygote.py): gradings forked from a process with pytest and torch
already imported behave as a plain `python -m pytest` child would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.judge_zygote import Zygote
from tests.conftest import REPO

TOY = '''
import os, random, sys

def test_writes_what_it_sees():
    with open(os.environ["TOY_OUT"], "w") as f:
        f.write(f"{random.random()} {os.getcwd()} {os.getpgid(0) == os.getpid()} {sys.argv[0]}")
    assert os.environ["TOY_FAIL"] != "1"

def test_sleeps_if_asked():
    if os.environ.get("TOY_SLEEP"):
        import time
        time.sleep(float(os.environ["TOY_SLEEP"]))
'''


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    it = Zygote(env, cwd=str(tmp_path_factory.mktemp("zygote")))
    yield it, env
    it.close()


def run_toy(zygote, env, tmp_path: Path, name: str, timeout: float = 120, **extra):
    folder = tmp_path / "toy"
    folder.mkdir(exist_ok=True)
    (folder / "test_toy.py").write_text(textwrap.dedent(TOY))
    work = tmp_path / name
    work.mkdir()
    out = work / "seen.txt"
    env = {**env, "TOY_OUT": str(out), "TOY_FAIL": "0", **extra}
    code, timed_out = zygote.run([str(folder), "-q", "-p", "no:cacheprovider"], env, str(work), str(work / "log"),
                                 private_mounts=False, timeout=timeout)
    return code, timed_out, out.read_text().split() if out.exists() else None, (work / "log").read_text()


def test_each_grading_is_a_fresh_child_with_its_own_environment_and_exit_code(zygote, tmp_path):
    it, env = zygote
    code, timed_out, seen, log = run_toy(it, env, tmp_path, "one")
    assert (code, timed_out) == (0, False) and "2 passed" in log, log
    value, cwd, own_group, _ = seen
    assert cwd == str(tmp_path / "one") and own_group == "True"   # its own process group: the runner can kill it

    code, _, again, log = run_toy(it, env, tmp_path, "two", TOY_FAIL="1")
    assert code == 1 and "1 failed" in log, log                    # pytest's own exit code comes back
    assert again[0] != value                                        # random state drawn anew in each child


def test_a_grading_past_its_time_is_killed(zygote, tmp_path):
    it, env = zygote
    started = time.monotonic()
    code, timed_out, _, _ = run_toy(it, env, tmp_path, "slow", timeout=3, TOY_SLEEP="600")
    assert (code, timed_out) == (None, True) and time.monotonic() - started < 60
    code, timed_out, _, _ = run_toy(it, env, tmp_path, "after")     # and the zygote still serves
    assert (code, timed_out) == (0, False)


def test_an_environment_read_at_import_time_gets_a_plain_child(zygote):
    it, env = zygote
    assert it.serves(env) and it.serves({**env, "CUDA_VISIBLE_DEVICES": "1", "GRADER_X": "y"})
    assert not it.serves({**env, "OMP_NUM_THREADS": "7"}) and not it.serves({**env, "HF_HOME": "/elsewhere"})


def test_the_zygote_dies_with_the_process_that_started_it(tmp_path):
    code = ("import os, sys, time; sys.path.insert(0, sys.argv[1]); from grader.judge_zygote import Zygote; "
            "z = Zygote(dict(os.environ), cwd='/'); print(z.proc.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(REPO)], stdout=subprocess.PIPE, text=True)
    zygote_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(zygote_pid):
        time.sleep(0.2)
    assert not _alive(zygote_pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_lines_that_are_not_the_runners_requests_are_refused_and_it_goes_on(zygote, tmp_path):
    """Not JSON, JSON that is no request, a request without the runner's key, a line past any
    request's length: each is refused, none starts a child or kills the zygote."""
    import json
    it, env = zygote
    request = {"id": 10 ** 6, "args": ["-c", "pass"], "env": {}, "cwd": "/", "log": str(tmp_path / "x"),
               "private_mounts": False}
    with it._write:
        for line in (b"not json", b"[1, 2]", b"[" * 100_000, json.dumps(request).encode(),
                     json.dumps({**request, "key": "guessed"}).encode(), b"x" * (1 << 25)):
            it.proc.stdin.write(line + b"\n")
        it.proc.stdin.flush()
    code, timed_out, _, log = run_toy(it, env, tmp_path, "after")
    assert (code, timed_out) == (0, False) and it.alive, log
    assert not (tmp_path / "x").exists()


def test_student_code_of_the_same_uid_cannot_reach_the_zygote(tmp_path):
    """The process mode runs student code as the grader's own user: /proc/<zygote>/fd/0 (its
    requests) must not open for it. Run here as an ordinary user, where root's powers do not blur it."""
    from tests.test_isolation import as_user, user_can_run_python
    if not user_can_run_python():
        pytest.skip("no ordinary user can start this Python")
    tmp_path.chmod(0o777)
    code = ("import os, subprocess, sys; sys.path.insert(0, sys.argv[1]); from grader.judge_zygote import Zygote; "
            "z = Zygote(dict(os.environ), cwd='/tmp'); "
            "probe = 'import sys\\ntry:\\n open(sys.argv[1], \"wb\")\\n print(\"opened\")\\nexcept OSError as e:\\n print(e.errno)'; "
            "print(subprocess.run([sys.executable, '-c', probe, f'/proc/{z.proc.pid}/fd/0'], capture_output=True, "
            "text=True).stdout.strip(), flush=True); z.close()")
    done = subprocess.run([*as_user(), sys.executable, "-c", code, str(REPO)], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("13", "1"), done.stdout + done.stderr   # EACCES or EPERM, never "opened"
