"""The largest modules and functions of grader/ (the harness, the judge library, each assignment's checks and
probe) at a git revision, to see whether the house stays easy to change.

    .venv/bin/python benchmarks/code_sizes.py [REV ...]     # default: HEAD
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOP = 8


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def sizes(rev: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(lines, module) and (lines, function) for every Python file of grader/ at ``rev``."""
    modules, functions = [], []
    for path in _git("ls-tree", "-r", "--name-only", rev, "grader").split():
        if not path.endswith(".py"):
            continue
        source = _git("show", f"{rev}:{path}")
        modules.append((len(source.splitlines()), path))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{path}:{node.name}"))
    return sorted(modules, reverse=True), sorted(functions, reverse=True)


def main() -> None:
    for rev in sys.argv[1:] or ["HEAD"]:
        modules, functions = sizes(rev)
        print(f"== {rev} ({_git('rev-parse', '--short', rev).strip()}): {len(modules)} modules, "
              f"{sum(n for n, _ in modules)} lines")
        print("largest modules: " + ", ".join(f"{m} {n}" for n, m in modules[:TOP]))
        print("largest functions: " + ", ".join(f"{f} {n}" for n, f in functions[:TOP]))


if __name__ == "__main__":
    main()
