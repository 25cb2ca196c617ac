"""Shared helpers of the harness's own tests: build submissions from the reference or the stub
with small patches, and grade them through the real runner (sandbox and all)."""
from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from grader.classrun import sandbox_threads
from grader.profiles import REPO
from grader.runner import grade_submission

# A shorter quick probe, so that its hangs cost less in CI (it takes ~1-7 s); the training runs keep
# the limits their measurements give (grader/assignments.py: `grader needs limits` prints them).
TEST_TIMEOUTS = {"GRADER_INSPECT_TIMEOUT_S": "60"}
# DeepSpeed launches are the heaviest tests: under pytest-xdist (--dist loadgroup) they run one at a
# time, on one worker, while the other workers take the rest
DEEPSPEED = pytest.mark.xdist_group("deepspeed")


@pytest.fixture(autouse=True, scope="session")
def _short_timeouts():
    mp = pytest.MonkeyPatch()
    for key, value in TEST_TIMEOUTS.items():
        mp.setenv(key, value)
    # the sandboxes of all workers share the cores, as a class run's units do: each gets its share
    mp.setenv("GRADER_CPU_THREADS", sandbox_threads(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    yield
    mp.undo()


def check_count(assignment: str) -> int:
    """How many checks an assignment's folder declares (@check-decorated functions)."""
    import ast
    return sum(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "check"
               for path in (REPO / "grader" / "checks" / assignment).glob("test_*.py")
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.FunctionDef) for d in node.decorator_list)


def make_submission(root: Path, base: str = "reference", patches=(), files=None, drop=(),
                    assignment: str = "qwen2_lora") -> Path:
    """A student folder root/<assignment> made from reference/ or assignments/ (the stub).

    patches: (filename, old, new) replacements; `old` must be present, so a patch can never
    silently stop applying when the reference changes. files: {relative path: text or bytes}.
    """
    src = REPO / ("reference" if base == "reference" else "assignments") / assignment
    dest = root / assignment
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for filename, old, new in patches:
        path = dest / filename
        text = path.read_text(encoding="utf-8")
        assert old in text, f"patch target not found in {filename}: {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    for rel in drop:
        (root / rel).unlink()
    return root


# each assignment's proof: tests/assignments/<name>/ (test_<name>.py, honest/, hostile/; README there)
PROOFS = Path(__file__).resolve().parent / "assignments"


@functools.cache
def corpus(kind: str) -> dict[str, Path]:
    """Every entry of one corpus ("honest" or "hostile") by name, from each assignment's proof folder
    (tests/assignments/<assignment>/<kind>/<entry>/), read once. Names are test ids: unique across assignments."""
    found: dict[str, Path] = {}
    for toml in sorted(PROOFS.glob(f"*/{kind}/*/entry.toml")):
        name = toml.parent.name
        if name in found:
            raise AssertionError(f"two {kind} entries named {name!r}: {found[name]} and {toml.parent}; rename one")
        found[name] = toml.parent
    return found


def corpus_entry(kind: str, name: str) -> dict:
    """An entry's entry.toml; one under an assignment's proof folder must name that assignment."""
    import tomllib
    folder = corpus(kind)[name]
    entry = tomllib.loads((folder / "entry.toml").read_text(encoding="utf-8"))
    owner = folder.parent.parent
    if entry.get("assignment") != owner.name:
        raise AssertionError(f"{folder}/entry.toml: assignment = {entry.get('assignment')!r}, but it lives in "
                             f"{owner.name}'s proof folder; move it to tests/assignments/{entry.get('assignment')}/{kind}/")
    return entry


def corpus_marks(assignment: str) -> list:
    """The pytest marks an assignment's corpus entries take (CORPUS_MARKS in its proof package:
    DeepSpeed launches run one at a time)."""
    import importlib
    return list(getattr(importlib.import_module(f"tests.assignments.{assignment}"), "CORPUS_MARKS", []))


def honest_entry(name: str) -> dict:
    return corpus_entry("honest", name)


def honest_submission(name: str, root: Path) -> Path:
    """The honest corpus entry <name> built as a submission under root (format: tests/assignments/honest.md)."""
    folder, entry = corpus("honest")[name], honest_entry(name)
    files = {str(p.relative_to(folder / "files")): p.read_bytes()
             for p in sorted((folder / "files").rglob("*")) if p.is_file()} if (folder / "files").is_dir() else {}
    return make_submission(root, base=entry["base"], assignment=entry["assignment"], files=files,
                           patches=[(p["file"], p["old"], p["new"]) for p in entry.get("patch", [])],
                           drop=entry.get("drop", ()))


def lost_with(check: str, checks: dict) -> set[str]:
    """The check and, transitively, every check that depends on it."""
    lost, changed = {check}, True
    while changed:
        changed = False
        for name, c in checks.items():
            if name not in lost and lost & set(c.depends):
                lost.add(name)
                changed = True
    return lost


def grade(submission: Path, out: Path, assignment: str = "qwen2_lora"):
    """Grade one assignment through the real runner; return (SubmissionResult, {check: CheckResult})."""
    result = grade_submission(submission, out, assignments=(assignment,))
    checks = {c.name: c for a in result.assignments for c in a.checks}
    return result, checks


@pytest.fixture
def loopback_listener():
    """A TCP server on the host's 127.0.0.1: (port, connections accepted). Sandboxed code must
    never reach it: the sandbox has a loopback of its own."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=2)
    server.close()
